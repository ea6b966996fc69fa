package main

import (
	"slices"
	"testing"

	"github.com/hullrt/hull/internal/cli"
)

// hull lists the families of cli.EngineFamilies and executes hull-engine
// for them: this program must carry exactly those.
func TestFamiliesMatchTable(t *testing.T) {
	var got, want []string
	for _, c := range newRootCommand().Commands() {
		if c.Name() != "help" && c.Name() != "completion" {
			got = append(got, c.Name()+" "+c.Short)
			if !slices.Equal(c.Aliases, cli.EngineFamily(c.Name()).Aliases) {
				t.Errorf("%s: aliases %q, want %q", c.Name(), c.Aliases, cli.EngineFamily(c.Name()).Aliases)
			}
		}
	}
	for _, f := range cli.EngineFamilies {
		want = append(want, f.Name+" "+f.Short)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("hull-engine's families\n%q\nwant cli.EngineFamilies\n%q", got, want)
	}
}
