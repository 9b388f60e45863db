package setup_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/setup"
)

func TestValidateChecksTheFusionLevel(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{
		{Name: "a", Tasks: []string{"A"}, Fusion: setup.FusionModule},
		{Name: "b", Tasks: []string{"B"}, Fusion: setup.FusionInstance},
		{Name: "c", Tasks: []string{"C"}},
	}}
	if err := s.Validate([]string{"A", "B", "C"}); err != nil {
		t.Fatal(err)
	}
	if !s.Groups[0].ModuleFused() || s.Groups[1].ModuleFused() || s.Groups[2].ModuleFused() {
		t.Error("ModuleFused disagrees with Fusion")
	}
	s.Groups[2].Fusion = "modul"
	err := s.Validate(nil)
	if !errors.Is(err, setup.ErrBadGroup) || !strings.Contains(err.Error(), `group "c" has fusion "modul"`) {
		t.Errorf("err = %v, want a bad group naming c and its fusion", err)
	}
}

func TestValidateIsolationRefusesIsolatedTasksInModuleFusedGroups(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{
		{Name: "fused", Tasks: []string{"A", "B"}, Fusion: setup.FusionModule},
		{Name: "inst", Tasks: []string{"C", "D"}, Fusion: setup.FusionInstance},
	}}
	if err := s.ValidateIsolation([]string{"C", "D"}); err != nil {
		t.Errorf("isolated tasks in an instance-fused group: %v", err)
	}
	err := s.ValidateIsolation([]string{"B", "C"})
	if !errors.Is(err, setup.ErrIsolated) || !strings.Contains(err.Error(), `task "B" is isolated, and group "fused" is module-fused`) {
		t.Errorf("err = %v, want ErrIsolated naming B and its group", err)
	}
}
