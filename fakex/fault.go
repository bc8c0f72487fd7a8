package fakex

import (
	"fmt"
	"slices"
	"time"
)

// Fault modes. A fault applies to the posting endpoints (POST /2/tweets and
// POST /1.1/statuses/update.json), except the login modes (ModeWrongPIN,
// ModeExpiredToken, ModeReadOnly), which apply to POST /oauth/access_token;
// a fault counts only the requests it applies to. The skewed clock of
// ModeSkew is the server's clock, so every endpoint sees it while the fault
// is in force.
const (
	ModeNone             = ""
	Mode429              = "429"                // 429 Too Many Requests, x-rate-limit-remaining 0, reset at now+Reset
	Mode403Dup           = "403dup"             // 403 duplicate content, whatever the text
	Mode401              = "401"                // 401, as if the credentials were wrong
	ModeSkew             = "skew"               // the server's clock runs Skew ahead (negative: behind)
	Mode503              = "503"                // 503 Service Unavailable
	ModeSlow             = "slow"               // answer normally after Delay
	ModeResetAfterAccept = "reset-after-accept" // accept the tweet, then reset the connection without answering
	ModeChunked          = "chunked"            // answer normally with Transfer-Encoding: chunked
	Mode453              = "453"                // 403 code 453: the access level allows a subset of endpoints only
	ModeHang             = "hang"               // never answer, until the client gives up or the server closes
	ModeCredits          = "credits"            // 402 CreditsDepleted, as X answers an account without credits (posting and GET /2/users/me)
	ModeMediaExpired     = "media-expired"      // a post's media ids are refused as expired, as X refuses them after expires_after_secs

	ModeWrongPIN     = "wrong-pin"     // refuse the PIN (oauth_verifier), whatever it is, as X refuses a mistyped one
	ModeExpiredToken = "expired-token" // the request token has expired by the time it is exchanged
	ModeReadOnly     = "read-only"     // the app has read-only permission: the access token says x-access-level: read, and posts with it are refused
)

// Modes lists every fault mode, for flag help and validation.
var Modes = []string{Mode429, Mode403Dup, Mode401, ModeSkew, Mode503, ModeSlow,
	ModeResetAfterAccept, ModeChunked, Mode453, ModeHang, ModeCredits, ModeMediaExpired, ModeWrongPIN, ModeExpiredToken, ModeReadOnly}

// A kind is what a request is, for deciding which fault applies to it.
type kind int

const (
	kindOther        kind = iota // GET /2/users/me, unknown paths
	kindPosting                  // POST /2/tweets, POST /1.1/statuses/update.json
	kindRequestToken             // POST /oauth/request_token
	kindPage                     // GET /oauth/authorize
	kindAccessToken              // POST /oauth/access_token
)

// appliesTo reports whether f applies to a request of kind k.
func (f Fault) appliesTo(k kind) bool {
	switch f.Mode {
	case ModeNone:
		return false
	case ModeWrongPIN, ModeExpiredToken, ModeReadOnly:
		return k == kindAccessToken
	case ModeCredits:
		return k == kindPosting || k == kindOther
	}
	return k == kindPosting
}

// A Fault makes the server misbehave on purpose.
type Fault struct {
	Mode string
	// Count is how many requests the fault applies to (posting requests,
	// or access-token requests for the login modes); 0 means until it is
	// replaced or cleared.
	Count int
	// Reset is how far after now x-rate-limit-reset points, for Mode429
	// (default 15 minutes).
	Reset time.Duration
	// Delay is how long ModeSlow waits before answering.
	Delay time.Duration
	// Skew is how far the server's clock is off, for ModeSkew.
	Skew time.Duration
}

func (f Fault) String() string {
	s := f.Mode
	switch f.Mode {
	case ModeNone:
		return "none"
	case Mode429:
		s += " reset=" + f.reset().String()
	case ModeSlow:
		s += " delay=" + f.Delay.String()
	case ModeSkew:
		s += " skew=" + f.Skew.String()
	}
	if f.Count > 0 {
		s += fmt.Sprintf(" count=%d", f.Count)
	}
	return s
}

func (f Fault) reset() time.Duration {
	if f.Reset <= 0 {
		return 15 * time.Minute
	}
	return f.Reset
}

// Check reports whether f is a fault this server knows how to apply.
func (f Fault) Check() error {
	if f.Mode == "401skew" {
		f.Mode = ModeSkew
	}
	if f.Mode != ModeNone && !slices.Contains(Modes, f.Mode) {
		return fmt.Errorf("fakex: unknown fault mode %q; use one of %v", f.Mode, Modes)
	}
	if f.Count < 0 {
		return fmt.Errorf("fakex: fault count %d is negative; use 0 for until cleared", f.Count)
	}
	if f.Delay < 0 || f.Reset < 0 {
		return fmt.Errorf("fakex: fault delay and reset must not be negative")
	}
	return nil
}

// SetFault replaces any pending faults with f; the zero Fault clears them.
// It returns an error for an unknown mode.
func (s *Server) SetFault(f Fault) error {
	return s.Script([]Fault{f})
}

// Script queues faults to apply one after the other: each in turn applies
// to its Count of posting requests, then the next takes over. A fault with
// Count 0 stays until the next SetFault or Script.
func (s *Server) Script(faults []Fault) error {
	queue := make([]Fault, 0, len(faults))
	for _, f := range faults {
		if err := f.Check(); err != nil {
			return err
		}
		if f.Mode == "401skew" {
			f.Mode = ModeSkew
		}
		if f.Mode == ModeNone && f.Count == 0 {
			continue
		}
		queue = append(queue, f)
	}
	s.mu.Lock()
	s.faults = queue
	s.mu.Unlock()
	return nil
}

// Fault returns the fault in force now (the zero Fault when none).
func (s *Server) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}
	}
	return s.faults[0]
}

// takeFault returns the fault for one request of kind k, when the fault
// in force applies to it, and counts it against the fault's Count. s.mu
// must be held.
func (s *Server) takeFault(k kind) Fault {
	if len(s.faults) == 0 || !s.faults[0].appliesTo(k) {
		return Fault{}
	}
	f := s.faults[0]
	if f.Count > 0 {
		s.faults[0].Count--
		if s.faults[0].Count == 0 {
			s.faults = s.faults[1:]
		}
	}
	return f
}

// skew returns the clock offset of the fault in force. s.mu must be held.
func (s *Server) skew() time.Duration {
	if len(s.faults) > 0 && s.faults[0].Mode == ModeSkew {
		return s.faults[0].Skew
	}
	return 0
}
