package portproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

func TestTCPRelaysBothWays(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := TCP(l, func() (net.Conn, error) { return net.Dial("tcp", up.Addr().String()) })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo through proxy = %q, %v", line, err)
	}
	// Close must cut the open connection and return (not hang).
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after Close")
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener still accepting after Close")
	}
	p.Close()
}

func TestUDPRelaysReplies(t *testing.T) {
	up, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := up.ReadFrom(b)
			if err != nil {
				return
			}
			up.WriteTo(append([]byte("re:"), b[:n]...), from)
		}
	}()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := UDP(pc, func() (net.Conn, error) { return net.Dial("udp", up.LocalAddr().String()) })
	defer p.Close()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a lost datagram fails, not hangs
	b := make([]byte, 100)
	n, err := c.Read(b)
	if err != nil || string(b[:n]) != "re:hi" {
		t.Fatalf("reply through proxy = %q, %v", b[:n], err)
	}
}
