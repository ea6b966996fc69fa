package hull

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A container's output reaches its log through its monitor: stdout and
// stderr are pipes (or, with a terminal, the pty master) that the monitor
// reads, and each line becomes one record of ctr.log, in the format
// conmon's k8s-file driver writes and the kubelet reads:
//
//	2026-11-23T09:00:00.123456789Z stdout F a complete line
//	2026-11-23T09:00:00.200000000Z stderr P a line's start, no newline yet
//	2026-11-23T09:00:00.300000000Z stderr F and its end
//
// The time is when the monitor read the bytes; F ends a line, P is part of
// one. Logs turns records back into the output (and can prefix lines with
// their times, or skip those before a moment).
//
// With LogMaxSize, a log that has grown past it is rotated:
//
//	ctr.log → ctr.log.1 → ctr.log.2 … ctr.log.(LogMaxFiles-1) → removed
//
// A reader following the log (Logs with Follow) that reaches the end of
// its file and finds ctr.log to be another file drains the old one and
// carries on with the new.

// logTimeFormat is RFC 3339 with all nine digits: records sort as text.
const logTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// ctrLog is the monitor's side of ctr.log: the one writer.
type ctrLog struct {
	path     string
	maxSize  int64 // 0: never rotated
	maxFiles int   // files kept, the current one included
	mu       sync.Mutex
	f        *os.File
	size     int64
}

func openCtrLog(path string, maxSize int64, maxFiles int) (*ctrLog, error) {
	l := &ctrLog{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 1)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *ctrLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Close closes the log file.
func (l *ctrLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// rotate shifts the files by one and starts a new ctr.log.
func (l *ctrLog) rotate() error {
	l.f.Close()
	for i := l.maxFiles - 1; i >= 1; i-- {
		from := l.path
		if i > 1 {
			from = l.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, l.path+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if l.maxFiles == 1 {
		if err := os.Remove(l.path); err != nil {
			return err
		}
	}
	return l.open()
}

// write records p, read from stream at t.
func (l *ctrLog) write(stream string, t time.Time, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rec bytes.Buffer
	stamp := t.UTC().Format(logTimeFormat)
	for len(p) > 0 {
		line, rest, full := bytes.Cut(p, []byte{'\n'})
		tag := " F "
		if !full {
			tag = " P "
		}
		rec.Reset()
		rec.WriteString(stamp + " " + stream + tag)
		rec.Write(line)
		rec.WriteByte('\n')
		n, err := l.f.Write(rec.Bytes())
		l.size += int64(n)
		if err != nil {
			return err
		}
		if l.maxSize > 0 && l.size >= l.maxSize {
			if err := l.rotate(); err != nil {
				return fmt.Errorf("rotating %s: %w", l.path, err)
			}
		}
		p = rest
	}
	return nil
}

// stream is an io.Writer of l's records for one stream.
func (l *ctrLog) stream(name string) io.Writer { return logStream{l, name} }

type logStream struct {
	l    *ctrLog
	name string
}

func (s logStream) Write(p []byte) (int, error) {
	if err := s.l.write(s.name, time.Now(), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pump copies r into w until r ends, then closes done.
func pump(r io.ReadCloser, w io.Writer, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// logRecord is one line of ctr.log.
type logRecord struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

// parseRecord reads a line of ctr.log, its newline removed.
func parseRecord(line []byte) (logRecord, bool) {
	ts, rest, ok1 := bytes.Cut(line, []byte{' '})
	stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
	tag, content, ok3 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !ok3 || len(tag) != 1 {
		return logRecord{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return logRecord{}, false
	}
	return logRecord{time: t, stream: string(stream), partial: tag[0] == 'P', content: content}, true
}

// logPrinter turns records back into output.
type logPrinter struct {
	w          io.Writer
	since      time.Time
	timestamps bool
	midLine    bool // the last record printed was partial
}

func (p *logPrinter) print(r logRecord) error {
	if !p.since.IsZero() && r.time.Before(p.since) {
		return nil
	}
	var b []byte
	if p.timestamps && !p.midLine {
		b = append(b, r.time.Format(logTimeFormat)+" "...)
	}
	b = append(b, r.content...)
	if !r.partial {
		b = append(b, '\n')
	}
	p.midLine = r.partial
	_, err := p.w.Write(b)
	return err
}

// rotatedLogs lists path's rotated files, oldest first.
func rotatedLogs(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append([]string{p}, out...)
	}
	return out
}

// readRecords calls fn for each complete record of pending followed by r,
// and returns the bytes of an incomplete last line (a record being
// written), to be passed as pending next time.
func readRecords(r *bufio.Reader, pending []byte, fn func(logRecord) error) ([]byte, error) {
	for {
		line, err := r.ReadBytes('\n')
		if len(pending) > 0 {
			line, pending = append(pending, line...), nil
		}
		if err == io.EOF {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
		if rec, ok := parseRecord(line[:len(line)-1]); ok {
			if err := fn(rec); err != nil {
				return nil, err
			}
		}
	}
}

// LogsOptions say what Logs copies.
type LogsOptions struct {
	// Follow keeps copying what the container writes until it exits.
	Follow bool
	// Tail, when positive, starts with the last Tail lines.
	Tail int
	// Since, when not zero, skips what was written before it.
	Since time.Time
	// Timestamps begins each line with the time it was written (RFC 3339
	// with nanoseconds), as "docker logs -t".
	Timestamps bool
}

// Logs copies the container's output (stdout and stderr, interleaved as
// the monitor read them) to w.
func (e *Engine) Logs(ctx context.Context, ref string, w io.Writer, o LogsOptions) error {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	f, err := os.Open(c.LogPath)
	if errors.Is(err, os.ErrNotExist) {
		if !o.Follow {
			return nil
		}
		// Not started yet: the monitor creates it.
		for errors.Is(err, os.ErrNotExist) {
			if err := sleep(ctx, pollInterval); err != nil {
				return err
			}
			f, err = os.Open(c.LogPath)
		}
	}
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	p := &logPrinter{w: w, since: o.Since, timestamps: o.Timestamps}

	// What is there now: the rotated files, then the current one.
	cur, _ := f.Stat()
	files := []*os.File{}
	for _, name := range rotatedLogs(c.LogPath) {
		rf, err := os.Open(name)
		if err != nil {
			continue // rotated away meanwhile
		}
		if fi, err := rf.Stat(); err == nil && cur != nil && os.SameFile(fi, cur) {
			rf.Close()
			continue
		}
		defer rf.Close()
		files = append(files, rf)
	}
	var tail [][]logRecord // the last o.Tail lines, as records
	var line []logRecord
	collect := p.print
	if o.Tail > 0 {
		collect = func(r logRecord) error {
			line = append(line, r)
			if !r.partial {
				tail = append(tail, line)
				line = nil
				if len(tail) > o.Tail {
					tail = tail[1:]
				}
			}
			return nil
		}
	}
	for _, rf := range files {
		if _, err := readRecords(bufio.NewReader(rf), nil, collect); err != nil {
			return err
		}
	}
	rd := bufio.NewReader(f)
	pending, err := readRecords(rd, nil, collect)
	if err != nil {
		return err
	}
	if o.Tail > 0 {
		if line != nil {
			tail = append(tail, line)
		}
		for _, l := range tail {
			for _, r := range l {
				if err := p.print(r); err != nil {
					return err
				}
			}
		}
	}
	if !o.Follow {
		return nil
	}
	for {
		// Once the monitor is gone, nothing writes any more but what
		// it left: copy that, then stop.
		gone := !monitorAlive(c.Dir)
		if pending, err = readRecords(rd, pending, p.print); err != nil {
			return err
		}
		if gone {
			return nil
		}
		// Rotated: the old file is complete; drain it and go on with
		// the new one.
		if fi, err := os.Stat(c.LogPath); err == nil {
			if cur, err := f.Stat(); err == nil && !os.SameFile(fi, cur) {
				if nf, err := os.Open(c.LogPath); err == nil {
					if _, err := readRecords(rd, pending, p.print); err != nil {
						nf.Close()
						return err
					}
					f.Close()
					f, rd, pending = nf, bufio.NewReader(nf), nil
					continue
				}
			}
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return err
		}
	}
}
