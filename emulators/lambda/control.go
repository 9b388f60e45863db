package lambda

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxControlBody bounds control-plane request bodies (a 50 MB zip, base64-encoded).
const maxControlBody = 70 << 20

// Handler serves the Lambda API (the subset a deployer and an invoker use) and the
// emulator's own routes under /emulator/v1/.
func (em *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request, string)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h(w, r, newRevision())
		})
	}
	const fns = "/2015-03-31/functions"
	route("POST "+fns, em.createFunction)
	route("GET "+fns, em.listFunctions)
	route("GET "+fns+"/", em.listFunctions)
	route("GET "+fns+"/{name}", em.getFunction)
	route("DELETE "+fns+"/{name}", em.deleteFunction)
	route("GET "+fns+"/{name}/configuration", em.getConfiguration)
	route("PUT "+fns+"/{name}/configuration", em.updateConfiguration)
	route("PUT "+fns+"/{name}/code", em.updateCode)
	route("POST "+fns+"/{name}/versions", em.publishVersion)
	route("GET "+fns+"/{name}/versions", em.listVersions)
	route("POST "+fns+"/{name}/aliases", em.createAlias)
	route("GET "+fns+"/{name}/aliases", em.listAliases)
	route("GET "+fns+"/{name}/aliases/{alias}", em.getAlias)
	route("PUT "+fns+"/{name}/aliases/{alias}", em.updateAlias)
	route("DELETE "+fns+"/{name}/aliases/{alias}", em.deleteAlias)
	route("POST "+fns+"/{name}/invocations", em.handleInvoke)
	route("PUT /2017-10-31/functions/{name}/concurrency", em.putConcurrency)
	route("DELETE /2017-10-31/functions/{name}/concurrency", em.deleteConcurrency)
	route("GET /2019-09-30/functions/{name}/concurrency", em.getConcurrency)
	route("POST /2017-03-31/tags/{arn}", em.tagResource)
	route("GET /2017-03-31/tags/{arn}", em.listTags)
	route("DELETE /2017-03-31/tags/{arn}", em.untagResource)
	route("GET /emulator/v1/reports", func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, http.StatusOK, em.Reports(r.URL.Query().Get("function")))
	})
	route("GET /emulator/v1/dead-letters", func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, http.StatusOK, em.DeadLetters())
	})
	route("GET /emulator/v1/logs", func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, em.Logs(r.URL.Query().Get("function")))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newRevision(), errorf(http.StatusNotFound, "UnknownOperationException", "the Lambda emulator does not implement %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func reply(w http.ResponseWriter, rid string, status int, v any) {
	w.Header().Set("X-Amzn-RequestId", rid)
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil {
		return invalid("reading the request: %v", err)
	}
	if len(body) > maxControlBody {
		return errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "Request must be smaller than %d bytes", maxControlBody)
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: %v", err)
	}
	return nil
}

// createFunctionInput is CreateFunction's body (the fields the emulator uses).
type createFunctionInput struct {
	FunctionName  string
	Runtime       string
	Role          string
	Handler       string
	Description   string
	MemorySize    *int
	Timeout       *int
	Architectures []string
	Environment   *environmentVars
	Code          struct{ ZipFile []byte }
	Publish       bool
	PackageType   string
	Tags          map[string]string
}

// parseCreateFunction reads and validates a CreateFunction body.
func parseCreateFunction(body []byte) (createFunctionInput, error) {
	var in createFunctionInput
	if err := json.Unmarshal(body, &in); err != nil {
		return in, errorf(http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: %v", err)
	}
	ref, aerr := parseFunctionRef(in.FunctionName, "")
	if aerr != nil {
		return in, aerr
	}
	if ref.Qualifier != "" {
		return in, invalid("function %s: a new function's name takes no qualifier", in.FunctionName)
	}
	in.FunctionName = ref.Name
	if in.PackageType != "" && in.PackageType != "Zip" {
		return in, invalid("function %s: PackageType %s: the emulator runs Zip packages only", in.FunctionName, in.PackageType)
	}
	if err := checkRuntime(in.FunctionName, in.Runtime); err != nil {
		return in, err
	}
	if in.MemorySize == nil {
		in.MemorySize = ptr(128)
	}
	if in.Timeout == nil {
		in.Timeout = ptr(3)
	}
	if err := checkLimits(in.FunctionName, *in.MemorySize, *in.Timeout); err != nil {
		return in, err
	}
	if _, err := checkArchitectures(in.FunctionName, in.Architectures); err != nil {
		return in, err
	}
	if in.Environment != nil {
		if err := checkVariables(in.FunctionName, in.Environment.Variables); err != nil {
			return in, err
		}
	}
	if len(in.Code.ZipFile) == 0 {
		return in, invalid("function %s: Code.ZipFile is required (the emulator takes no S3 or image code)", in.FunctionName)
	}
	return in, nil
}

func ptr[T any](v T) *T { return &v }

func (em *Emulator) createFunction(w http.ResponseWriter, r *http.Request, rid string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil || len(body) > maxControlBody {
		writeError(w, rid, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "Request must be smaller than %d bytes", maxControlBody))
		return
	}
	in, err := parseCreateFunction(body)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	arch, _ := checkArchitectures(in.FunctionName, in.Architectures)
	em.mu.Lock()
	if em.closing {
		em.mu.Unlock()
		writeError(w, rid, ErrClosed)
		return
	}
	if f, ok := em.functions[in.FunctionName]; ok && !f.deleted {
		em.mu.Unlock()
		writeError(w, rid, conflict("Function already exist: %s", in.FunctionName))
		return
	}
	em.mu.Unlock()
	em.mu.Lock()
	em.functionSeq++
	fnDir := filepath.Join(em.opts.Dir, in.FunctionName+"-"+strconv.FormatUint(em.functionSeq, 10))
	em.mu.Unlock()
	dir, sha, size, err := storeCode(fnDir, in.FunctionName, in.Code.ZipFile)
	if err != nil {
		_ = os.RemoveAll(fnDir)
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	if f, ok := em.functions[in.FunctionName]; ok && !f.deleted {
		_ = os.RemoveAll(fnDir)
		writeError(w, rid, conflict("Function already exist: %s", in.FunctionName))
		return
	}
	f := &function{name: in.FunctionName, dir: fnDir, arn: em.arn(in.FunctionName, ""), aliases: map[string]*alias{}, tags: maps.Clone(in.Tags)}
	if f.tags == nil {
		f.tags = map[string]string{}
	}
	cfg := config{Runtime: in.Runtime, Role: in.Role, Handler: in.Handler, Description: in.Description,
		MemorySize: *in.MemorySize, Timeout: *in.Timeout, Architecture: arch, CodeDir: dir, CodeSha256: sha,
		CodeSize: size, LastModified: time.Now(), RevisionID: newRevision(), VersionString: "$LATEST"}
	if in.Environment != nil {
		cfg.Variables = maps.Clone(in.Environment.Variables)
	}
	f.latest = em.snapshotLocked(f, cfg)
	em.functions[f.name] = f
	out := f.latest
	if in.Publish {
		out = em.publishLocked(f, "")
	}
	em.log.Info("lambda: function created", "function", f.name, "memory", cfg.MemorySize, "code", sha)
	reply(w, rid, http.StatusCreated, out.configuration())
}

func (em *Emulator) snapshotLocked(f *function, cfg config) *version {
	em.snapshotSeq++
	return &version{fn: f, id: em.snapshotSeq, cfg: cfg}
}

// publishLocked publishes $LATEST as a new version, or returns the newest version when
// $LATEST has not changed since (as Lambda does).
func (em *Emulator) publishLocked(f *function, description string) *version {
	for i := len(f.versions) - 1; i >= 0; i-- {
		if v := f.versions[i]; v != nil {
			if v.cfg.RevisionID == f.latest.cfg.RevisionID {
				return v
			}
			break
		}
	}
	cfg := f.latest.cfg
	cfg.Variables = maps.Clone(cfg.Variables)
	cfg.VersionString = strconv.Itoa(len(f.versions) + 1)
	if description != "" {
		cfg.Description = description
	}
	v := em.snapshotLocked(f, cfg)
	v.cfg.RevisionID = f.latest.cfg.RevisionID // ties the version to the $LATEST it copies
	f.versions = append(f.versions, v)
	return v
}

// function finds the function a path names (without qualifier handling).
func (em *Emulator) functionLocked(name string) (*function, functionRef, error) {
	ref, aerr := parseFunctionRef(name, "")
	if aerr != nil {
		return nil, ref, aerr
	}
	f, ok := em.functions[ref.Name]
	if !ok || f.deleted {
		return nil, ref, notFound("Function not found: %s", em.arn(ref.Name, ""))
	}
	return f, ref, nil
}

func (em *Emulator) versionFor(r *http.Request) (*version, error) {
	ref, aerr := parseFunctionRef(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if aerr != nil {
		return nil, aerr
	}
	f, ok := em.functions[ref.Name]
	if !ok || f.deleted {
		return nil, notFound("Function not found: %s", em.arn(ref.Name, ref.Qualifier))
	}
	if a, ok := f.aliases[ref.Qualifier]; ok {
		ref.Qualifier = a.Version // the alias's main version
	}
	return f.resolve(ref.Qualifier, pick)
}

func (em *Emulator) getFunction(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	v, err := em.versionFor(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	out := struct {
		Configuration configuration
		Code          struct{ RepositoryType, Location string }
		Tags          map[string]string
		Concurrency   *struct{ ReservedConcurrentExecutions int } `json:",omitempty"`
	}{Configuration: v.configuration(), Tags: maps.Clone(v.fn.tags)}
	out.Code.RepositoryType = "S3"
	out.Code.Location = "file://" + filepath.Join(v.cfg.CodeDir, ".package.zip")
	if v.fn.reserved != nil {
		out.Concurrency = &struct{ ReservedConcurrentExecutions int }{*v.fn.reserved}
	}
	reply(w, rid, http.StatusOK, out)
}

func (em *Emulator) getConfiguration(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	v, err := em.versionFor(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	reply(w, rid, http.StatusOK, v.configuration())
}

func (em *Emulator) listFunctions(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	names := slices.Sorted(maps.Keys(em.functions))
	names = slices.DeleteFunc(names, func(n string) bool { return em.functions[n].deleted })
	q := r.URL.Query()
	start := 0
	if m := q.Get("Marker"); m != "" {
		start = sort.SearchStrings(names, m)
	}
	maxItems := 50
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, rid, invalid("MaxItems %q: must be 1 to 10000", s))
			return
		}
		maxItems = n
	}
	out := struct {
		Functions  []configuration
		NextMarker *string `json:",omitempty"`
	}{Functions: []configuration{}}
	for i := start; i < len(names); i++ {
		if len(out.Functions) == maxItems {
			out.NextMarker = ptr(names[i])
			break
		}
		out.Functions = append(out.Functions, em.functions[names[i]].latest.configuration())
	}
	reply(w, rid, http.StatusOK, out)
}

func (em *Emulator) deleteFunction(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	ref, aerr := parseFunctionRef(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	f, ok := em.functions[ref.Name]
	if !ok || f.deleted {
		writeError(w, rid, notFound("Function not found: %s", em.arn(ref.Name, ref.Qualifier)))
		return
	}
	switch q := ref.Qualifier; {
	case q == "":
		f.deleted = true
		delete(em.functions, f.name)
		em.retireLocked(f.latest)
		for _, v := range f.versions {
			if v != nil {
				em.retireLocked(v)
			}
		}
		em.cond.Broadcast()
		dir := f.dir
		go func() {
			// Busy environments end with their invocation; the code goes once they have.
			for {
				em.mu.Lock()
				n := len(f.pool.envs)
				em.mu.Unlock()
				if n == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			_ = os.RemoveAll(dir)
		}()
	case q == "$LATEST":
		writeError(w, rid, invalid("function %s: $LATEST cannot be deleted alone; delete the function", f.name))
		return
	case isVersionNumber(q):
		n, _ := strconv.Atoi(q)
		if n < 1 || n > len(f.versions) || f.versions[n-1] == nil {
			writeError(w, rid, notFound("Function not found: %s", em.arn(f.name, q)))
			return
		}
		for _, a := range f.aliases {
			if a.Version == q || a.Weights[q] > 0 {
				writeError(w, rid, conflict("function %s: version %s is used by alias %s", f.name, q, a.Name))
				return
			}
		}
		em.retireLocked(f.versions[n-1])
		f.versions[n-1] = nil
	default:
		writeError(w, rid, invalid("function %s: qualifier %s: delete an alias with DeleteAlias", f.name, q))
		return
	}
	reply(w, rid, http.StatusNoContent, nil)
}

// updateLatestLocked makes a new $LATEST snapshot from cfg and retires the old one.
func (em *Emulator) updateLatestLocked(f *function, cfg config) {
	cfg.LastModified = time.Now()
	cfg.RevisionID = newRevision()
	old := f.latest
	f.latest = em.snapshotLocked(f, cfg)
	em.retireLocked(old)
}

func (em *Emulator) updateConfiguration(w http.ResponseWriter, r *http.Request, rid string) {
	var in struct {
		Role, Handler, Description, Runtime *string
		MemorySize, Timeout                 *int
		Environment                         *environmentVars
		RevisionId                          string
	}
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if in.RevisionId != "" && in.RevisionId != f.latest.cfg.RevisionID {
		writeError(w, rid, errorf(http.StatusPreconditionFailed, "PreconditionFailedException", "function %s: The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id", f.name))
		return
	}
	cfg := f.latest.cfg
	cfg.Variables = maps.Clone(cfg.Variables)
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&cfg.Role, in.Role)
	set(&cfg.Handler, in.Handler)
	set(&cfg.Description, in.Description)
	set(&cfg.Runtime, in.Runtime)
	if in.MemorySize != nil {
		cfg.MemorySize = *in.MemorySize
	}
	if in.Timeout != nil {
		cfg.Timeout = *in.Timeout
	}
	if in.Environment != nil {
		if err := checkVariables(f.name, in.Environment.Variables); err != nil {
			writeError(w, rid, err)
			return
		}
		cfg.Variables = maps.Clone(in.Environment.Variables)
	}
	if err := checkRuntime(f.name, cfg.Runtime); err != nil {
		writeError(w, rid, err)
		return
	}
	if err := checkLimits(f.name, cfg.MemorySize, cfg.Timeout); err != nil {
		writeError(w, rid, err)
		return
	}
	em.updateLatestLocked(f, cfg)
	reply(w, rid, http.StatusOK, f.latest.configuration())
}

func (em *Emulator) updateCode(w http.ResponseWriter, r *http.Request, rid string) {
	var in struct {
		ZipFile       []byte
		Publish       bool
		Architectures []string
		RevisionId    string
	}
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	em.mu.Unlock()
	if err != nil {
		writeError(w, rid, err)
		return
	}
	arch, err := checkArchitectures(f.name, in.Architectures)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	dir, sha, size, err := storeCode(f.dir, f.name, in.ZipFile)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	if f.deleted {
		writeError(w, rid, notFound("Function not found: %s", f.arn))
		return
	}
	if in.RevisionId != "" && in.RevisionId != f.latest.cfg.RevisionID {
		writeError(w, rid, errorf(http.StatusPreconditionFailed, "PreconditionFailedException", "function %s: The Revision Id provided does not match the latest Revision Id", f.name))
		return
	}
	cfg := f.latest.cfg
	cfg.Variables = maps.Clone(cfg.Variables)
	cfg.CodeDir, cfg.CodeSha256, cfg.CodeSize = dir, sha, size
	if len(in.Architectures) > 0 {
		cfg.Architecture = arch
	}
	em.updateLatestLocked(f, cfg)
	out := f.latest
	if in.Publish {
		out = em.publishLocked(f, "")
	}
	reply(w, rid, http.StatusOK, out.configuration())
}

func (em *Emulator) publishVersion(w http.ResponseWriter, r *http.Request, rid string) {
	var in struct{ CodeSha256, Description, RevisionId string }
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if in.CodeSha256 != "" && in.CodeSha256 != f.latest.cfg.CodeSha256 {
		writeError(w, rid, errorf(http.StatusPreconditionFailed, "PreconditionFailedException", "function %s: CodeSha256 %s does not match $LATEST's %s", f.name, in.CodeSha256, f.latest.cfg.CodeSha256))
		return
	}
	if in.RevisionId != "" && in.RevisionId != f.latest.cfg.RevisionID {
		writeError(w, rid, errorf(http.StatusPreconditionFailed, "PreconditionFailedException", "function %s: The Revision Id provided does not match the latest Revision Id", f.name))
		return
	}
	reply(w, rid, http.StatusCreated, em.publishLocked(f, in.Description).configuration())
}

func (em *Emulator) listVersions(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	out := struct{ Versions []configuration }{Versions: []configuration{f.latest.configuration()}}
	for _, v := range f.versions {
		if v != nil {
			out.Versions = append(out.Versions, v.configuration())
		}
	}
	reply(w, rid, http.StatusOK, out)
}

type aliasInput struct {
	Name            string
	FunctionVersion *string
	Description     *string
	RoutingConfig   *routingConfig
	RevisionId      string
}

// checkAliasLocked validates an alias's versions and weights against f.
func checkAliasLocked(f *function, a *alias) error {
	exists := func(v string) bool {
		if v == "$LATEST" {
			return true
		}
		n, err := strconv.Atoi(v)
		return err == nil && n >= 1 && n <= len(f.versions) && f.versions[n-1] != nil
	}
	if !exists(a.Version) {
		return notFound("function %s: alias %s: version %s not found", f.name, a.Name, a.Version)
	}
	if len(a.Weights) > 1 {
		return invalid("function %s: alias %s: AdditionalVersionWeights may name one version (an alias routes to at most two)", f.name, a.Name)
	}
	for v, w := range a.Weights {
		switch {
		case !exists(v) || v == "$LATEST":
			return invalid("function %s: alias %s: additional version %s must be a published version", f.name, a.Name, v)
		case v == a.Version:
			return invalid("function %s: alias %s: additional version %s is the alias's own version", f.name, a.Name, v)
		case w < 0 || w > 1:
			return invalid("function %s: alias %s: weight %v of version %s must be between 0.0 and 1.0", f.name, a.Name, w, v)
		}
		if a.Version == "$LATEST" {
			return invalid("function %s: alias %s: weighted routing needs a published primary version, not $LATEST", f.name, a.Name)
		}
	}
	return nil
}

func (em *Emulator) createAlias(w http.ResponseWriter, r *http.Request, rid string) {
	var in aliasInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if !aliasNameRE.MatchString(in.Name) || len(in.Name) > 128 {
		writeError(w, rid, invalid("function %s: alias name %q: 1 to 128 letters, digits, - or _, not all digits", f.name, in.Name))
		return
	}
	if _, ok := f.aliases[in.Name]; ok {
		writeError(w, rid, conflict("Alias already exists: %s", em.arn(f.name, in.Name)))
		return
	}
	if in.FunctionVersion == nil {
		writeError(w, rid, invalid("function %s: alias %s: FunctionVersion is required", f.name, in.Name))
		return
	}
	a := &alias{Name: in.Name, Version: *in.FunctionVersion, RevisionID: newRevision()}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if in.RoutingConfig != nil {
		a.Weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
	}
	if err := checkAliasLocked(f, a); err != nil {
		writeError(w, rid, err)
		return
	}
	f.aliases[a.Name] = a
	reply(w, rid, http.StatusCreated, f.aliasConfiguration(a))
}

func (em *Emulator) aliasLocked(r *http.Request) (*function, *alias, error) {
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		return nil, nil, err
	}
	a, ok := f.aliases[r.PathValue("alias")]
	if !ok {
		return nil, nil, notFound("Cannot find alias arn: %s", em.arn(f.name, r.PathValue("alias")))
	}
	return f, a, nil
}

func (em *Emulator) getAlias(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, a, err := em.aliasLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	reply(w, rid, http.StatusOK, f.aliasConfiguration(a))
}

func (em *Emulator) listAliases(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	out := struct{ Aliases []aliasConfiguration }{Aliases: []aliasConfiguration{}}
	for _, n := range slices.Sorted(maps.Keys(f.aliases)) {
		out.Aliases = append(out.Aliases, f.aliasConfiguration(f.aliases[n]))
	}
	reply(w, rid, http.StatusOK, out)
}

func (em *Emulator) updateAlias(w http.ResponseWriter, r *http.Request, rid string) {
	var in aliasInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, a, err := em.aliasLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if in.RevisionId != "" && in.RevisionId != a.RevisionID {
		writeError(w, rid, errorf(http.StatusPreconditionFailed, "PreconditionFailedException", "function %s: alias %s: The Revision Id provided does not match the latest Revision Id", f.name, a.Name))
		return
	}
	next := *a
	if in.FunctionVersion != nil {
		next.Version = *in.FunctionVersion
	}
	if in.Description != nil {
		next.Description = *in.Description
	}
	if in.RoutingConfig != nil {
		next.Weights = maps.Clone(in.RoutingConfig.AdditionalVersionWeights)
	}
	if err := checkAliasLocked(f, &next); err != nil {
		writeError(w, rid, err)
		return
	}
	next.RevisionID = newRevision()
	*a = next
	reply(w, rid, http.StatusOK, f.aliasConfiguration(a))
}

func (em *Emulator) deleteAlias(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, a, err := em.aliasLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	delete(f.aliases, a.Name)
	reply(w, rid, http.StatusNoContent, nil)
}

func (em *Emulator) putConcurrency(w http.ResponseWriter, r *http.Request, rid string) {
	var in struct{ ReservedConcurrentExecutions *int }
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if in.ReservedConcurrentExecutions == nil || *in.ReservedConcurrentExecutions < 0 || *in.ReservedConcurrentExecutions > em.opts.ConcurrencyLimit {
		writeError(w, rid, invalid("function %s: ReservedConcurrentExecutions must be 0 to %d", f.name, em.opts.ConcurrencyLimit))
		return
	}
	f.reserved = ptr(*in.ReservedConcurrentExecutions)
	reply(w, rid, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": *f.reserved})
}

func (em *Emulator) deleteConcurrency(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	f.reserved = nil
	em.cond.Broadcast()
	reply(w, rid, http.StatusNoContent, nil)
}

func (em *Emulator) getConcurrency(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, _, err := em.functionLocked(r.PathValue("name"))
	if err != nil {
		writeError(w, rid, err)
		return
	}
	out := map[string]int{}
	if f.reserved != nil {
		out["ReservedConcurrentExecutions"] = *f.reserved
	}
	reply(w, rid, http.StatusOK, out)
}

// taggedLocked finds the function a tag resource ARN names.
func (em *Emulator) taggedLocked(r *http.Request) (*function, error) {
	arn := r.PathValue("arn")
	if !strings.HasPrefix(arn, "arn:") {
		return nil, invalid("resource %q: tags take a function ARN", arn)
	}
	f, ref, err := em.functionLocked(arn)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, invalid("resource %s: tags belong to the function, not a version or alias", arn)
	}
	return f, nil
}

func (em *Emulator) tagResource(w http.ResponseWriter, r *http.Request, rid string) {
	var in struct{ Tags map[string]string }
	if err := readJSON(r, &in); err != nil {
		writeError(w, rid, err)
		return
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	f, err := em.taggedLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	if len(f.tags)+len(in.Tags) > 50 {
		writeError(w, rid, invalid("function %s: at most 50 tags", f.name))
		return
	}
	maps.Copy(f.tags, in.Tags)
	reply(w, rid, http.StatusNoContent, nil)
}

func (em *Emulator) listTags(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, err := em.taggedLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	reply(w, rid, http.StatusOK, map[string]map[string]string{"Tags": maps.Clone(f.tags)})
}

func (em *Emulator) untagResource(w http.ResponseWriter, r *http.Request, rid string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, err := em.taggedLocked(r)
	if err != nil {
		writeError(w, rid, err)
		return
	}
	for _, k := range r.URL.Query()["tagKeys"] {
		delete(f.tags, k)
	}
	reply(w, rid, http.StatusNoContent, nil)
}
