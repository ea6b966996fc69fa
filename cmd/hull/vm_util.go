package main

import "time"

func afterConsoleRetry() <-chan time.Time { return time.After(10 * time.Millisecond) }
