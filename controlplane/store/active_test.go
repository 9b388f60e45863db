package store

import "testing"

func TestActiveVersionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.ActiveVersion(); err != nil || v != 0 {
		t.Fatalf("fresh store: %d, %v", v, err)
	}
	if err := s.SetActiveVersion(7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.ActiveVersion(); err != nil || v != 7 {
		t.Fatalf("after restart: %d, %v", v, err)
	}
}
