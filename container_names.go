package hull

import (
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Random names are an adjective and a scientist of the kernel, the network
// or computing, as docker's are: easier to type than an ID.
var (
	nameAdjectives = []string{
		"agile", "bold", "brave", "calm", "clever", "crisp", "eager", "fair",
		"gentle", "happy", "keen", "kind", "lucid", "merry", "nimble", "noble",
		"patient", "quiet", "quick", "sharp", "steady", "swift", "tidy", "vivid",
		"wise", "zen",
	}
	nameScientists = []string{
		"allen", "backus", "cerf", "dijkstra", "engelbart", "floyd", "goldberg",
		"hamilton", "hopper", "kahn", "knuth", "lamport", "liskov", "lovelace",
		"mccarthy", "perlman", "ritchie", "shannon", "sutherland", "thompson",
		"torvalds", "turing", "wirth", "wozniak",
	}
)

// friendlyName picks a random name no container has. Called with the
// containers lock held.
func (e *Engine) friendlyName() string {
	for i := 0; ; i++ {
		n := nameAdjectives[rand.IntN(len(nameAdjectives))] + "_" + nameScientists[rand.IntN(len(nameScientists))]
		if i > 20 {
			n += "_" + string(rune('0'+rand.IntN(10))) + string(rune('0'+rand.IntN(10)))
		}
		if e.nameOwner(n) == "" {
			return n
		}
	}
}

// nameOwner is the ID of the container named n, or "".
func (e *Engine) nameOwner(n string) string {
	ents, _ := os.ReadDir(e.containersDir())
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		if c, err := readRecord(filepath.Join(e.containersDir(), ent.Name())); err == nil && c.Name == n {
			return c.ID
		}
	}
	return ""
}
