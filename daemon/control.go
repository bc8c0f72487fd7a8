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
	"sync"
	"syscall"
	"time"

	"pitweet/config"
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
	// For spend: what a command run once spends on X (spend.go).
	Spend *SpendRequest `json:"spend,omitempty"`
}

// ControlResponse is the daemon's answer.
type ControlResponse struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Status  *Status  `json:"status,omitempty"`  // for status
	Queued  string   `json:"queued,omitempty"`  // for press: the outbox id of the queued message
	Text    string   `json:"text,omitempty"`    // for press: the text queued; for reload: what now runs
	Buttons []string `json:"buttons,omitempty"` // for a press of an unknown button: the known ones
	// For a press of a button with a photo: the photo queued with the
	// text ("1280x720 jpeg, 96512 bytes, alt …"), or why there is none
	// (the text is queued alone).
	Photo      string `json:"photo,omitempty"`
	PhotoError string `json:"photo_error,omitempty"`
	// For history: the series, with the samples not yet written too, at
	// most HistoryPoints each.
	History []history.Series `json:"history,omitempty"`
	// For spend: the charge made and the month's spend.
	Spend *SpendAnswer `json:"spend,omitempty"`
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

// ErrNoAnswer is returned by Call when the request was sent but no answer
// came back: the daemon closed the connection (it may have died) or did
// not answer in time. What the request did is unknown: a press may have
// been queued.
var ErrNoAnswer = errors.New("daemon: no answer")

// controlTimeout bounds one exchange on the control socket.
const controlTimeout = 10 * time.Second

// answerTimeout bounds the exchange of req: controlTimeout, but for a
// press, which a button with a photo answers once its photo is stored.
// The photo is taken within the button's photo_timeout, and a press that
// waited longer than that for the camera goes without, so its answer
// comes within two timeouts.
func answerTimeout(req ControlRequest) time.Duration {
	if req.Op == "press" {
		return controlTimeout + 2*config.MaxPhotoTimeout
	}
	return controlTimeout
}

// Call sends req to the daemon listening on socket and returns its answer.
// When no daemon listens (no socket file, or a stale one) the error wraps
// ErrNoDaemon; when the request went out but no answer came back, it wraps
// ErrNoAnswer.
func Call(socket string, req ControlRequest) (*ControlResponse, error) {
	conn, err := net.DialTimeout("unix", socket, controlTimeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s", ErrNoDaemon, socket)
		}
		return nil, fmt.Errorf("daemon: connect to %s: %w", socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(answerTimeout(req)))
	line, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("daemon: encode request: %w", err)
	}
	_, sendErr := conn.Write(append(line, '\n'))
	// A daemon that refuses the connection (busy) answers before reading
	// and closes, which can fail the write: its answer is still there.
	var resp ControlResponse
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64<<10), maxAnswerLine)
	if !sc.Scan() {
		err := sc.Err()
		switch {
		case sendErr != nil:
			return nil, fmt.Errorf("daemon: send to %s: %w", socket, sendErr)
		case errors.Is(err, bufio.ErrTooLong):
			return nil, fmt.Errorf("daemon: answer from %s is longer than %d bytes", socket, maxAnswerLine)
		case err != nil:
			return nil, fmt.Errorf("%w from %s: %w", ErrNoAnswer, socket, err)
		}
		return nil, fmt.Errorf("%w: %s closed the connection before answering", ErrNoAnswer, socket)
	}
	if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("daemon: answer from %s is not JSON: %w", socket, err)
	}
	return &resp, nil
}

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

// Limits of the control socket. Any member of group pitweet may connect;
// none may starve the daemon. Connections are capped in all and per user
// (the peer's uid, from the kernel), far below the descriptor limit, so
// the outbox, the sensors and X always have descriptors; a connection over
// a cap is answered "busy" and closed at once. A request line is a few
// KiB at most, so a connection costs a few KiB of memory; and a connection
// that sends nothing, or never reads its answers, is closed.
type controlLimits struct {
	conns        int           // open connections in all
	connsPerUser int           // open connections of one uid
	line         int           // bytes in one request line, newline included
	idle         time.Duration // to send a whole request line, or to take an answer
	lifetime     time.Duration // of one connection, however busy
}

var defaultControlLimits = controlLimits{
	conns:        32,
	connsPerUser: 8,
	line:         4 << 10,
	idle:         5 * time.Second,
	lifetime:     30 * time.Second,
}

// maxAnswerLine bounds one answer line as Call reads it: a status with
// dead letters and sensors may be long, and the client can afford it.
const maxAnswerLine = 1 << 20

// refusalLogEvery is how often refused control connections are logged at
// most, so that a flood does not flood the journal too.
const refusalLogEvery = time.Minute

// serveControl answers requests on ln with handle until ctx is done.
func serveControl(ctx context.Context, ln *net.UnixListener, log *slog.Logger, handle func(context.Context, ControlRequest) ControlResponse) {
	s := &controlServer{ln: ln, log: log, handle: handle, limits: defaultControlLimits}
	s.serve(ctx)
}

// controlServer is the control socket's accept loop and its connections.
type controlServer struct {
	ln     *net.UnixListener
	log    *slog.Logger
	handle func(context.Context, ControlRequest) ControlResponse
	limits controlLimits

	mu        sync.Mutex
	open      int
	byUser    map[uint32]int
	refused   int       // since the last log line about it
	refusedAt time.Time // of that line
}

func (s *controlServer) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: the daemon goes on, and
			// status and press work again once the cause passes.
			s.log.Error("daemon: control socket accept failed; trying again in a second", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		uid, known := peerUID(conn)
		if busy := s.admit(uid); busy != "" {
			s.refuse(conn, uid, known, busy)
			continue
		}
		go func() {
			defer s.release(uid)
			s.serveConn(ctx, conn)
		}()
	}
}

// admit counts a new connection of uid, or says why it is refused.
func (s *controlServer) admit(uid uint32) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.byUser[uid] >= s.limits.connsPerUser:
		return fmt.Sprintf("daemon: busy: your user has %d control connections open, the most one user may; try again when one has closed", s.byUser[uid])
	case s.open >= s.limits.conns:
		return fmt.Sprintf("daemon: busy: %d control connections are open, the most the daemon takes; try again shortly", s.open)
	}
	if s.byUser == nil {
		s.byUser = map[uint32]int{}
	}
	s.open++
	s.byUser[uid]++
	return ""
}

func (s *controlServer) release(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.byUser[uid]--; s.byUser[uid] == 0 {
		delete(s.byUser, uid)
	}
}

// refuse answers a connection over a cap with why and closes it, at once:
// the accept loop never waits on a refused client. The refusals are logged
// at most once a minute.
func (s *controlServer) refuse(conn *net.UnixConn, uid uint32, known bool, why string) {
	line, _ := json.Marshal(ControlResponse{Error: why})
	// A new connection's socket buffer is empty: the write does not wait.
	// The deadline is only a guard, and long enough for a loaded machine:
	// a client must learn it was refused, never take the closed connection
	// for a lost answer.
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	conn.Write(append(line, '\n'))
	conn.Close()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused++
	if now := time.Now(); now.Sub(s.refusedAt) >= refusalLogEvery {
		args := []any{"refused", s.refused, "open", s.open, "limit", s.limits.conns, "limit_per_user", s.limits.connsPerUser}
		if known {
			args = append(args, "uid", uid)
		}
		s.log.Warn("daemon: control socket is full; refusing connections (logged at most once a minute)", args...)
		s.refused, s.refusedAt = 0, now
	}
}

// serveConn answers the requests of one connection, one line each, within
// the connection's deadlines.
func (s *controlServer) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	end := time.Now().Add(s.limits.lifetime)
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 512), s.limits.line)
	enc := json.NewEncoder(conn)
	answer := func(resp ControlResponse) error {
		conn.SetWriteDeadline(time.Now().Add(s.limits.idle))
		return enc.Encode(resp)
	}
	for {
		conn.SetReadDeadline(earliest(time.Now().Add(s.limits.idle), end))
		if !sc.Scan() {
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				answer(ControlResponse{Error: fmt.Sprintf("daemon: request longer than %d bytes; a request is one short JSON line", s.limits.line)})
			}
			return
		}
		var req ControlRequest
		var resp ControlResponse
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp = ControlResponse{Error: "daemon: request is not JSON: " + err.Error()}
		} else {
			resp = s.handle(ctx, req)
		}
		if err := answer(resp); err != nil {
			return
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
