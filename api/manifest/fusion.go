package manifest

// ModuleFusable returns the tasks among names that a module-fused group
// links into its one fused module: the app's Go tasks that are not
// isolated (Task.Isolate), in the order of names. The others (WAT,
// AssemblyScript, isolated, unknown) keep a module each in such a group.
func (a *App) ModuleFusable(names []string) []string {
	var out []string
	for _, n := range names {
		if t, ok := a.Task(n); ok && !t.Isolate && (t.Lang == LangGo || t.Lang == "") {
			out = append(out, n)
		}
	}
	return out
}
