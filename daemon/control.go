package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pitweet/history"
)

// The control socket speaks line-delimited JSON: one ControlRequest per
// line in, one ControlResponse per line out. `pitweet status`,
// `pitweet press` and `pitweet reload` are its clients.

// ControlRequest asks the daemon something.
type ControlRequest struct {
	Op     string `json:"op"`               // "status", "press", "reload" or "history"
	Button string `json:"button,omitempty"` // for press
	Long   bool   `json:"long,omitempty"`   // for press
	// For history: what to answer (sensor or sensor.Quantity; none: all)
	// over which window (zero To: now; zero From: a day before To).
	Series []string  `json:"series,omitempty"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}

// ControlResponse is the daemon's answer.
type ControlResponse struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Status  *Status  `json:"status,omitempty"`  // for status
	Queued  string   `json:"queued,omitempty"`  // for press: the outbox id of the queued message
	Text    string   `json:"text,omitempty"`    // for press: the text queued; for reload: what now runs
	Buttons []string `json:"buttons,omitempty"` // for a press of an unknown button: the known ones
	// For history: the series, with the samples not yet written too, at
	// most HistoryPoints each.
	History []history.Series `json:"history,omitempty"`
}

// SocketName is the control socket's file name in the runtime directory.
const SocketName = "control.sock"

// DefaultRuntimeDir is where the control socket lives when systemd does
// not say ($RUNTIME_DIRECTORY).
const DefaultRuntimeDir = "/run/pitweet"

// DefaultSocket returns where the daemon places its control socket:
// $RUNTIME_DIRECTORY/control.sock (the first directory, if systemd lists
// several), else /run/pitweet/control.sock.
func DefaultSocket() string {
	dir := DefaultRuntimeDir
	if rd := os.Getenv("RUNTIME_DIRECTORY"); rd != "" {
		dir, _, _ = strings.Cut(rd, ":")
	}
	return filepath.Join(dir, SocketName)
}

// ErrNoDaemon is returned by Call when nothing listens on the socket.
var ErrNoDaemon = errors.New("daemon: no daemon is listening")

// controlTimeout bounds one exchange on the control socket.
const controlTimeout = 10 * time.Second

// Call sends req to the daemon listening on socket and returns its answer.
// When no daemon listens (no socket file, or a stale one) the error wraps
// ErrNoDaemon.
func Call(socket string, req ControlRequest) (*ControlResponse, error) {
	conn, err := net.DialTimeout("unix", socket, controlTimeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s", ErrNoDaemon, socket)
		}
		return nil, fmt.Errorf("daemon: connect to %s: %w", socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlTimeout))
	line, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("daemon: encode request: %w", err)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("daemon: send to %s: %w", socket, err)
	}
	var resp ControlResponse
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64<<10), maxControlLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("daemon: read answer from %s: %w", socket, err)
		}
		return nil, fmt.Errorf("daemon: %s closed without answering", socket)
	}
	if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("daemon: answer from %s is not JSON: %w", socket, err)
	}
	return &resp, nil
}

// maxControlLine bounds one request or response line.
const maxControlLine = 1 << 20

// listenControl creates the control socket at path, mode 0660 (the group
// may use it), replacing a stale socket a dead daemon left but refusing to
// take over one a live daemon answers on.
func listenControl(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("daemon: create the runtime directory for the control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("daemon: %s exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("daemon: another pitweet is already running (it answers on %s); stop it first", path)
		}
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("daemon: listen on %s: %w; set RUNTIME_DIRECTORY to a writable directory", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon: set the control socket's mode: %w", err)
	}
	return ln, nil
}

// serveControl answers requests on ln with handle until ctx is done.
func serveControl(ctx context.Context, ln *net.UnixListener, log *slog.Logger, handle func(context.Context, ControlRequest) ControlResponse) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: the daemon goes on, and
			// status and press work again once the cause passes.
			log.Error("daemon: control socket accept failed; trying again in a second", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		go serveControlConn(ctx, conn, handle)
	}
}

func serveControlConn(ctx context.Context, conn net.Conn, handle func(context.Context, ControlRequest) ControlResponse) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), maxControlLine)
	enc := json.NewEncoder(conn)
	for {
		conn.SetDeadline(time.Now().Add(controlTimeout))
		if !sc.Scan() {
			return
		}
		var req ControlRequest
		var resp ControlResponse
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp = ControlResponse{Error: "daemon: request is not JSON: " + err.Error()}
		} else {
			resp = handle(ctx, req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}
