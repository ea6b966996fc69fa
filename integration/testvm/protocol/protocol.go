// Package protocol is what the test VM's host harness and its guest init
// agree on: the manifest the host writes on the payload disk, and the
// lines the guest writes on its result serial port.
package protocol

// Marker starts every line of the guest's that the host acts on.
const Marker = "@@hull-testvm@@"

// Where the guest finds its payload.
const (
	PayloadDevice = "/dev/vda"
	PayloadDir    = "/payload"
	ManifestFile  = "manifest.json"
)

// Manifest lists the jobs the guest runs, in order.
type Manifest struct {
	Jobs []Job `json:"jobs"`
}

// Job is one program the guest runs: normally a test binary built with
// go test -c, run from its package's directory so that testdata/ is found.
type Job struct {
	Name           string   `json:"name"`
	Path           string   `json:"path"`
	Args           []string `json:"args,omitempty"`
	Dir            string   `json:"dir,omitempty"`
	Env            []string `json:"env,omitempty"`
	TimeoutSeconds int      `json:"timeoutSeconds,omitempty"`
}

// Event is what follows Marker on a result line.
type Event struct {
	Job  string `json:"job,omitempty"`
	Exit *int   `json:"exit,omitempty"`
	Done bool   `json:"done,omitempty"`
}

// Heartbeat is the line the guest's init writes on the console (ttyS0)
// every HeartbeatInterval while its jobs run, followed by the guest's
// uptime and load average. The host does not show these lines; it counts
// a guest silent for several intervals as frozen: the emulator itself
// stalled, since even a guest whose jobs hang runs its init's timer.
const Heartbeat = Marker + " alive"

// HeartbeatInterval is how often the guest's init writes Heartbeat.
const HeartbeatInterval = 20 // seconds
