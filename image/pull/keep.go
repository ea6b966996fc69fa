package pull

import (
	"io"
	"time"
)

// What a download keeps in the store's partial file, for a later pull to
// resume from. Keeping bytes costs a second write of the blob, which a
// layer commit's syncfs(2) then pushes to disk along with the layer;
// it only pays when fetching them again would take long. So a download
// keeps its first keepFirst bytes (a pull killed at any moment leaves
// something to resume from), then measures: a blob that at this rate
// arrives whole within keepSlow is cheaper to fetch again than to keep,
// and its partial file stops growing there. What it kept stays valid: a
// resumed pull replays it and fetches the rest.
const (
	keepFirst = 8 << 20
	keepSlow  = 2 * time.Second
)

// keeper is the partial file's writer for one download.
type keeper struct {
	w       io.Writer
	rest    int64 // bytes this download fetches, in all
	got     int64
	start   time.Time
	now     func() time.Time
	decided bool
	stopped bool
}

func newKeeper(w io.Writer, rest int64) *keeper {
	return &keeper{w: w, rest: rest, start: time.Now(), now: time.Now}
}

// Write keeps p, or discards it once the download proved fast.
func (k *keeper) Write(p []byte) (int, error) {
	if k.stopped {
		return len(p), nil
	}
	n, err := k.w.Write(p)
	k.got += int64(n)
	if !k.decided && k.got >= keepFirst {
		k.decided = true
		// The whole download's time at the rate of its first keepFirst
		// bytes.
		whole := time.Duration(float64(k.now().Sub(k.start)) * float64(k.rest) / float64(k.got))
		k.stopped = whole < keepSlow
	}
	return n, err
}
