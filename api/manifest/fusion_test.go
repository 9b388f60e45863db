package manifest_test

import (
	"slices"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
)

func TestModuleFusableKeepsGoTasksThatAreNotIsolated(t *testing.T) {
	app := &manifest.App{Tasks: []manifest.Task{
		{Name: "A", Lang: manifest.LangGo}, {Name: "B"}, {Name: "W", Lang: manifest.LangWAT},
		{Name: "S", Lang: manifest.LangAssemblyScript}, {Name: "I", Lang: manifest.LangGo, Isolate: true},
	}}
	if got := app.ModuleFusable([]string{"W", "B", "I", "A", "S", "X"}); !slices.Equal(got, []string{"B", "A"}) {
		t.Errorf("ModuleFusable = %v, want B, A", got)
	}
}
