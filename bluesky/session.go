package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"

	"pitweet/sender"
	"pitweet/statedir"
)

// Sessions (atproto.com/specs/xrpc, "Authentication"): createSession with
// the handle and app password answers an access token (short-lived: two
// hours on the PDS) and a refresh token (90 days). The access token lives
// in memory. The refresh token is kept in SessionFile, and gets a new
// access token (and a new refresh token) from refreshSession when the
// access token has expired (the PDS answers 400 ExpiredToken) or when the
// daemon starts, so a restart costs no login (createSession is limited to
// 30 every 5 minutes). A refresh token is used once: the new one is
// written to disk (fsynced, renamed, the directory fsynced) before the
// session is used, so a crash at any moment leaves on disk a token the
// server has not yet seen used, or, killed between the server's answer and
// the write, the spent one, which the server refuses: then the app password
// logs in again (createSession), and nothing is lost but that request.

// SessionFile is the file in the state directory that keeps the refresh
// token (mode 0600). Its name begins with a dot, as the state directory's
// files that are not messages do.
const SessionFile = ".bluesky-session"

// maxSessionFile bounds what is read of SessionFile: two tokens' worth.
const maxSessionFile = 16 << 10

// sessionFile is SessionFile's content.
type sessionFile struct {
	Service string `json:"service"` // the configured service it belongs to
	Handle  string `json:"handle"`  // the configured handle
	session
}

// loadSession reads the kept session of the configured account; ok is
// false when there is none (or it is another account's, or unreadable:
// said in the log, and a login replaces it).
func (c *Client) loadSession() (session, bool) {
	if c.cfg.StateDir == "" {
		return session{}, false
	}
	file := filepath.Join(c.cfg.StateDir, SessionFile)
	data, err := readState(c.cfg.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return session{}, false
	}
	if err != nil {
		c.log.Warn("bluesky: the kept session cannot be read; logging in with the app password", "file", file, "err", err)
		return session{}, false
	}
	var f sessionFile
	if err := json.Unmarshal(data, &f); err != nil || f.Refresh == "" || f.DID == "" || !printableToken(f.Refresh) {
		c.log.Warn("bluesky: the kept session is not one pitweet wrote; logging in with the app password", "file", file)
		return session{}, false
	}
	if f.Service != c.cfg.Service || !strings.EqualFold(f.Handle, c.cfg.Handle) {
		c.log.Info("bluesky: the kept session is of another account or service; logging in with the app password",
			"kept", f.Handle+" at "+f.Service)
		return session{}, false
	}
	return f.session, true
}

// keep writes s to SessionFile, durably, before it is used.
func (c *Client) keep(s session) error {
	if c.cfg.StateDir == "" {
		return nil
	}
	data, err := json.Marshal(sessionFile{Service: c.cfg.Service, Handle: c.cfg.Handle, session: s})
	if err != nil {
		return err
	}
	if err := writeState(c.cfg.StateDir, append(data, '\n')); err != nil {
		return fmt.Errorf("bluesky: keep the session's refresh token: %w: %w (is the state directory writable and not full?)", err, sender.ErrTransient)
	}
	return nil
}

// readState reads SessionFile in dir through statedir's checks (no link,
// a regular file of one name, at most maxSessionFile bytes).
func readState(dir string) ([]byte, error) {
	d, err := statedir.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadFile(SessionFile, maxSessionFile)
}

// writeState replaces SessionFile in dir with data, mode 0600: a
// temporary file fsynced, renamed over it, the directory fsynced.
func writeState(dir string, data []byte) error {
	d, err := statedir.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(SessionFile, data, 0o600)
}

// sessionAnswer is createSession's and refreshSession's output.
type sessionAnswer struct {
	AccessJwt  string          `json:"accessJwt"`
	RefreshJwt string          `json:"refreshJwt"`
	Handle     string          `json:"handle"`
	DID        string          `json:"did"`
	DIDDoc     json.RawMessage `json:"didDoc"`
	Active     *bool           `json:"active"`
	Status     string          `json:"status"`
}

// decodeSession reads a session answer; pds is the didDoc's
// #atproto_pds endpoint, "" when it names none usable.
func decodeSession(body []byte) (a sessionAnswer, pds string, err error) {
	if err := json.Unmarshal(body, &a); err != nil {
		return a, "", err
	}
	if a.AccessJwt == "" || a.RefreshJwt == "" || a.DID == "" || a.Handle == "" {
		return a, "", errors.New("accessJwt, refreshJwt, did or handle missing")
	}
	if !strings.HasPrefix(a.DID, "did:") || !printableToken(a.AccessJwt) || !printableToken(a.RefreshJwt) {
		return a, "", errors.New("did or a token malformed")
	}
	return a, pdsEndpoint(a.DIDDoc), nil
}

// printableToken reports whether s can go in an Authorization field: a
// token of visible ASCII, at most 8 KiB.
func printableToken(s string) bool {
	if len(s) > 8<<10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// pdsEndpoint finds the account's PDS in a DID document (atproto.com/specs/did:
// "under the service array, with id ending #atproto_pds, and type matching
// AtprotoPersonalDataServer. The first matching entry in the array should
// be used … must contain an HTTPS URL"); "" when there is none usable.
func pdsEndpoint(doc json.RawMessage) string {
	if len(doc) == 0 {
		return ""
	}
	var d struct {
		ID      string `json:"id"`
		Service []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Endpoint any    `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return ""
	}
	for _, s := range d.Service {
		if !strings.HasSuffix(s.ID, "#atproto_pds") || s.Type != "AtprotoPersonalDataServer" {
			continue
		}
		ep, _ := s.Endpoint.(string)
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
			return ""
		}
		return "https://" + u.Host
	}
	return ""
}

// login opens a session with the app password (createSession).
func (c *Client) login(ctx context.Context) error {
	body, err := jsonBody(struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}{c.cfg.Handle, c.cfg.AppPassword})
	if err != nil {
		return err
	}
	req := &sender.Request{Method: "POST", Target: pathCreateSession, ContentType: "application/json", Body: sender.BytesBody(body)}
	resp, err := c.entry.Do(ctx, req)
	if err != nil {
		c.setStatus(func(s *Status) { s.Session = "login failed: " + err.Error() + "; retrying later" })
		return err
	}
	c.noteAnswer(resp)
	if resp.StatusCode != 200 {
		e := classify(resp, c.now().Add(c.clockOffset()))
		if resp.StatusCode == 401 || e.Reason == "AuthenticationRequired" {
			e.Kind, e.Err = sender.KindUnauthorized, nil
			e.Hint = fmt.Sprintf("Bluesky refused handle %q with this app password; check handle in [bluesky] and bluesky_app_password (make a new app password in Bluesky's Settings, Privacy and security, App passwords)", c.cfg.Handle)
		}
		c.setStatus(func(s *Status) {
			s.LoggedIn = false
			s.Session = "login refused: " + e.Error()
		})
		return e
	}
	return c.adopt(resp, "logged in")
}

// refresh renews the session with the refresh token (refreshSession);
// refused, it logs in with the app password.
func (c *Client) refresh(ctx context.Context) error {
	if c.session.Refresh == "" {
		if s, ok := c.loadSession(); ok {
			c.session = s
		} else {
			return c.login(ctx)
		}
	}
	req := &sender.Request{Method: "POST", Target: pathRefreshSession, Authorization: "Bearer " + c.session.Refresh}
	resp, err := c.entry.Do(ctx, req)
	if err != nil {
		c.setStatus(func(s *Status) { s.Session = "refreshing the session failed: " + err.Error() + "; retrying later" })
		return err
	}
	c.noteAnswer(resp)
	if resp.StatusCode != 200 {
		e := classify(resp, c.now().Add(c.clockOffset()))
		if e.Temporary() {
			c.setStatus(func(s *Status) { s.Session = "refreshing the session failed: " + e.Error() + "; retrying later" })
			return e
		}
		// A spent, expired or revoked refresh token (400 ExpiredToken or
		// InvalidToken, 401): log in again.
		c.log.Warn("bluesky: the refresh token was refused; logging in with the app password", "err", e)
		c.session.Refresh = ""
		return c.login(ctx)
	}
	return c.adopt(resp, "session refreshed")
}

// adopt makes a session answer the client's session, kept on disk first.
func (c *Client) adopt(resp *sender.Response, what string) error {
	a, pds, err := decodeSession(resp.Body)
	if err != nil {
		return protocolError(resp, `a session ({"accessJwt":…,"refreshJwt":…,"did":…,"handle":…}): `+err.Error())
	}
	s := session{DID: a.DID, Handle: a.Handle, PDS: pds, Refresh: a.RefreshJwt}
	if err := c.keep(s); err != nil {
		// The new refresh token stays in memory, and the access token
		// unused: the next attempt refreshes with it and writes again.
		c.session = s
		c.access = ""
		c.setStatus(func(st *Status) { st.Session = err.Error() })
		return err
	}
	if err := c.usePDS(pds); err != nil {
		c.log.Warn("bluesky: the account's PDS cannot be reached directly; posting through the service", "pds", pds, "err", err)
	}
	c.session, c.access = s, a.AccessJwt
	where := c.cfg.Service
	if c.pds != nil {
		where = pds
	}
	c.log.Info("bluesky: "+what, "handle", a.Handle, "did", a.DID, "pds", where)
	c.setStatus(func(st *Status) {
		st.LoggedIn, st.Handle, st.DID, st.PDS = true, a.Handle, a.DID, where
		st.Session = fmt.Sprintf("logged in as %s (%s)", a.Handle, a.DID)
		if a.Active != nil && !*a.Active {
			st.Session += "; the account is not active (" + a.Status + ")"
		}
	})
	return nil
}

// usePDS sends the account's requests to pds from now on ("" or the
// service itself: to the service, which forwards them).
func (c *Client) usePDS(pds string) error {
	if pds == "" || pds == c.entry.Origin() {
		if c.pds != nil {
			c.pds.Close()
			c.pds = nil
		}
		return nil
	}
	if c.pds != nil && c.pds.Origin() == pds {
		return nil
	}
	tr, err := newTransport(c.cfg, pds)
	if err != nil {
		return err
	}
	if c.pds != nil {
		c.pds.Close()
	}
	c.pds = tr
	return nil
}

// repoTransport is where the account's records are written and read.
func (c *Client) repoTransport() *sender.Transport {
	if c.pds != nil {
		return c.pds
	}
	return c.entry
}

// ensure opens a session when there is none: with the kept refresh token,
// else the app password.
func (c *Client) ensure(ctx context.Context) error {
	if c.access != "" {
		return nil
	}
	return c.refresh(ctx)
}

// do sends the request build makes with the access token to the
// account's PDS, after opening a session if needed. An expired access
// token (400 ExpiredToken, or 401) renews the session once and the request
// is sent again; a token refused as invalid logs in again once. The answer
// is returned whatever its status.
func (c *Client) do(ctx context.Context, build func() *sender.Request) (*sender.Response, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		req := build()
		req.Authorization = "Bearer " + c.access
		resp, err := c.repoTransport().Do(ctx, req)
		if err != nil {
			return nil, err
		}
		c.noteAnswer(resp)
		if attempt > 0 || (resp.StatusCode != 400 && resp.StatusCode != 401) {
			return resp, nil
		}
		var x xrpcError
		json.Unmarshal(resp.Body, &x)
		switch {
		case x.Error == "ExpiredToken" || (resp.StatusCode == 401 && x.Error != "AccountTakedown" && x.Error != "AccountDeactivated"):
			c.log.Info("bluesky: the access token expired; refreshing the session")
			c.access = ""
			if err := c.refresh(ctx); err != nil {
				return nil, err
			}
		case x.Error == "InvalidToken":
			c.log.Warn("bluesky: the access token was refused; logging in with the app password", "message", x.Message)
			c.access = ""
			if err := c.login(ctx); err != nil {
				return nil, err
			}
		default:
			return resp, nil
		}
	}
}

// Login opens a session with the app password now, as `pitweet check
// --online` does: it checks the handle and app password, makes a session
// (the account's list of sessions shows it) and costs one of the 30
// logins the service allows every 5 minutes. It returns the account's
// handle, DID and PDS.
func (c *Client) Login(ctx context.Context) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.login(ctx); err != nil {
		return Status{}, err
	}
	return c.Status(), nil
}
