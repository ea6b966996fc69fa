package vmm

import (
	"os"
	"time"
)

func afterMillis(n int) <-chan time.Time { return time.After(time.Duration(n) * time.Millisecond) }

func pid() int { return os.Getpid() }
