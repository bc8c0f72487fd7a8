package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/budget"
	"pitweet/config"
	"pitweet/outbox"
	"pitweet/sender"
)

// What X costs, and what may be spent on it. The X delivery loop goes
// through a spending gate (package budget holds the prices, the ledger and
// the quota; this file is the daemon's side):
//
//   - Every request is charged to the month's ledger before it is sent,
//     and the charge is released when X's answer shows X did not act on
//     it (any refusal: X bills only successful requests). A charge whose
//     answer was lost is kept: a kill -9 never forgets a request X may
//     have billed. When a retry of the same message then succeeds, the
//     charges of its earlier attempts are released (X had not posted it),
//     those of a run that was killed included; when the retry is answered
//     "duplicate", the oldest of them is kept.
//   - A post that would take the month over [x] monthly_budget is not
//     sent: its rule's on_budget holds it (the default: it waits for the
//     next month, UTC, or a higher budget and a reload) or drops it (a
//     dead letter for X with the reason).
//   - X's messages are posted alerts first, then presses and commands,
//     then reports, each oldest first, so a held report never delays an
//     alert; other destinations post oldest first, and X's budget never
//     holds them.
//   - After X answers that the account's credits are depleted (a 402),
//     nothing is sent to X for an hour; then one message tries again. A
//     reload tries at once.
//   - When X's headers say the 24-hour allowance (or the 15-minute
//     window) is used up, nothing is sent until it resets; when the
//     24-hour allowance runs low (budget.LowThreshold), reports wait for
//     the reset and presses, alerts and commands go on. A header that is
//     absent means unknown, never zero.

// creditsRetry is how long after a credits-depleted answer X is asked
// again.
const creditsRetry = time.Hour

// maxHold bounds one wait of a holding loop: it looks again at least this
// often (a clock that jumps, a budget that another process changed).
const maxHold = time.Hour

// spendRetry is the wait after the spend could not be recorded, when a
// budget requires it.
const spendRetry = time.Minute

// kindRank orders X's messages: alerts, then presses and commands, then
// reports. Rank 0 is for messages to give up at once (expired, or dropped
// for the budget): they cost nothing.
func kindRank(kind string) int {
	switch kind {
	case "alert":
		return 1
	case "report":
		return 3
	}
	return 2
}

// spending is the gate of the X delivery loop, and what status shows of
// X's spend.
type spending struct {
	ledger    *budget.Ledger // nil when it could not be opened: ledgerErr says why
	ledgerErr error
	log       *slog.Logger

	mu       sync.Mutex
	settings budget.Settings
	quota    budget.Quota
	depleted time.Time // X last said the credits are depleted (as seen by this process)
	retryNow bool      // a reload: one attempt goes whatever the credits were
	month    budget.Month
	monthErr error
	held     []HeldGroup // what the last pass held
	heldAt   time.Time
	// bySocket holds the ids charged through the control socket, which
	// the socket may release.
	bySocket map[string]bool
}

// newSpending opens the ledger in stateDir. A ledger that does not open
// is logged and shown in status; posts then go on when no budget is set,
// and are held when one is.
func newSpending(stateDir string, settings budget.Settings, log *slog.Logger) *spending {
	s := &spending{settings: settings, log: log, bySocket: map[string]bool{}}
	s.ledger, s.ledgerErr = budget.Open(stateDir, budget.Options{Log: log})
	if s.ledgerErr != nil {
		log.Error("daemon: the X spend is not recorded", "err", s.ledgerErr)
	}
	return s
}

func (s *spending) close() {
	if s != nil && s.ledger != nil {
		s.ledger.Close()
	}
}

// update takes a reloaded config's settings; after a credits-depleted
// answer, the next message is tried at once.
func (s *spending) update(settings budget.Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings = settings
	s.retryNow = true
}

// spendPass is what one look at X's queue knows: the month's spend and
// what holds messages back, with the count of those it held.
type spendPass struct {
	now      time.Time
	settings budget.Settings
	spent    budget.Amount
	// blocked holds every message until blockedUntil: credits depleted,
	// the quota used up, or a spend that cannot be recorded under a
	// budget.
	blocked      string
	blockedUntil time.Time
	blockedFix   string
	low          bool // the 24-hour allowance is low: reports wait
	lowUntil     time.Time
	lowWhy       string

	// Counted by rank.
	overBudget int
	quotaHeld  int
	soonest    time.Time // the earliest expiry of a held message
}

// begin starts a pass at now: it reads the month's spend (what this and
// other processes recorded) and what holds messages back.
func (s *spending) begin(now time.Time) *spendPass {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &spendPass{now: now, settings: s.settings}
	s.refresh(now)
	p.spent = s.month.Spent
	if s.ledger == nil || s.monthErr != nil {
		if p.settings.Limited {
			err := s.ledgerErr
			if err == nil {
				err = s.monthErr
			}
			p.blocked = "the X spend cannot be read, and a monthly budget is set: " + err.Error()
			p.blockedUntil = now.Add(spendRetry)
			p.blockedFix = "fix the spend record (see the log), or remove monthly_budget from [x] and reload"
		}
	}
	dep := s.depleted
	if s.month.Depleted.After(dep) {
		dep = s.month.Depleted
	}
	if !dep.IsZero() && !s.retryNow && now.Before(dep.Add(creditsRetry)) && p.blocked == "" {
		p.blocked = fmt.Sprintf("X answered at %s that the account's credits are depleted", dep.Local().Format("2006-01-02 15:04:05"))
		p.blockedUntil = dep.Add(creditsRetry)
		p.blockedFix = "add credits in the X developer console (https://console.x.com), then pitweet reload to try at once"
	}
	if until, why := s.quota.Blocked(now); !until.IsZero() && p.blocked == "" {
		p.blocked, p.blockedUntil = why, until
		p.blockedFix = "wait for the reset; nothing is sent to X before it"
	}
	if low, until := s.quota.Low(now); low {
		limit, left, _, _ := s.quota.Day(now)
		p.low, p.lowUntil = true, until
		p.lowWhy = fmt.Sprintf("%d of X's %d posts for 24 hours left (%d kept for presses and alerts)", left, limit, budget.LowThreshold(limit))
	}
	return p
}

// refresh reads the month's spend. s.mu is held.
func (s *spending) refresh(now time.Time) {
	if s.ledger == nil {
		s.month = budget.Month{Name: budget.MonthOf(now), Requests: map[budget.Item]int{}}
		return
	}
	s.month, s.monthErr = s.ledger.Month(now)
	if s.monthErr != nil {
		s.log.Error("daemon: read the X spend", "err", s.monthErr)
	}
}

// cost is what posting m costs on X.
func (p *spendPass) cost(m outbox.Message) []budget.Request {
	alts := 0
	for _, im := range m.Images {
		if im.Alt != "" {
			alts++
		}
	}
	return p.settings.Prices.ForPost(m.TextFor("x"), alts)
}

// fits reports whether m may be posted within the month's budget.
func (p *spendPass) fits(m outbox.Message) bool {
	return p.settings.Fits(p.spent, budget.Total(p.cost(m)))
}

// rank is the outbox ranking of X's messages (outbox.NextMatching): -1 for
// one held, 0 for one to give up at once, else by kind.
func (p *spendPass) rank(m outbox.Message) int {
	if m.Expired(p.now) {
		return 0
	}
	held := false
	switch {
	case !p.fits(m):
		if m.OnBudget == "drop" {
			return 0
		}
		p.overBudget++
		held = true
	case p.low && m.Kind == "report":
		p.quotaHeld++
		held = true
	}
	if held {
		if !m.Expires.IsZero() && (p.soonest.IsZero() || m.Expires.Before(p.soonest)) {
			p.soonest = m.Expires
		}
		return -1
	}
	return kindRank(m.Kind)
}

// holdUntil is when a loop that holds everything should look again: the
// end of what holds the messages back, or the first expiry among them,
// within maxHold.
func (p *spendPass) holdUntil() time.Time {
	until := p.now.Add(maxHold)
	if p.overBudget > 0 {
		until = earliest(until, budget.NextMonth(p.now))
	}
	if p.quotaHeld > 0 {
		until = earliest(until, p.lowUntil)
	}
	if p.blocked != "" {
		until = earliest(until, p.blockedUntil)
	}
	if !p.soonest.IsZero() {
		until = earliest(until, p.soonest)
	}
	if !until.After(p.now) {
		until = p.now.Add(time.Second)
	}
	return until
}

// overBudgetWhy says why a post is held or dropped for the budget.
func (p *spendPass) overBudgetWhy(m outbox.Message) string {
	return p.overWhy(p.cost(m))
}

// overWhy says why a post of reqs is over the month's budget.
func (p *spendPass) overWhy(reqs []budget.Request) string {
	what := ""
	if reqs[0].Item == budget.ItemPostURL {
		what = " (its text has a link)"
	}
	return fmt.Sprintf("over X's monthly budget: %s of %s spent in %s (UTC), and this post costs %s%s",
		p.spent, p.settings.Budget, budget.MonthOf(p.now), budget.Total(reqs), what)
}

// overBudget says why a post of text with alts alt texts would take X
// over the month's budget, or "" when it fits (or no budget is set).
func (s *spending) overBudget(text string, alts int, now time.Time) string {
	p := s.begin(now)
	if !p.settings.Limited {
		return ""
	}
	reqs := p.settings.Prices.ForPost(text, alts)
	if p.settings.Fits(p.spent, budget.Total(reqs)) {
		return ""
	}
	return p.overWhy(reqs)
}

// end records what the pass held, for status: holding is the number of
// X's messages the block holds when there is one.
func (s *spending) end(p *spendPass, holding int) {
	var groups []HeldGroup
	if p.blocked != "" && holding > 0 {
		groups = append(groups, HeldGroup{Why: p.blocked, Messages: holding, Until: p.blockedUntil, Fix: p.blockedFix})
	}
	if p.overBudget > 0 {
		groups = append(groups, HeldGroup{
			Why:      fmt.Sprintf("over X's monthly budget: %s of %s spent in %s (UTC)", p.spent, p.settings.Budget, budget.MonthOf(p.now)),
			Messages: p.overBudget, Until: budget.NextMonth(p.now),
			Fix: "they wait for the next month; raise monthly_budget in [x] and pitweet reload to post them now"})
	}
	if p.quotaHeld > 0 {
		groups = append(groups, HeldGroup{Why: "reports give way: " + p.lowWhy, Messages: p.quotaHeld, Until: p.lowUntil,
			Fix: "they wait for the 24-hour reset"})
	}
	s.mu.Lock()
	s.held, s.heldAt = groups, p.now
	s.mu.Unlock()
}

// charge records m's cost before it is sent. When it cannot be recorded,
// ok is false if a budget requires it; without a budget the post goes on,
// unrecorded, and the log says so.
func (s *spending) charge(p *spendPass, m outbox.Message) (c budget.Charge, ok bool, err error) {
	if s.ledger == nil {
		return c, !p.settings.Limited, s.ledgerErr
	}
	c, err = s.ledger.Charge(p.now, "m:"+m.ID, p.cost(m))
	if err != nil {
		s.log.Error("daemon: the cost of a post could not be recorded", "id", m.ID, "err", err)
		return c, !p.settings.Limited, err
	}
	return c, true, nil
}

// answered settles the charge c of an attempt to post m (tried earlier
// attempts) from X's answer, and takes in what the answer says of the
// credits.
//
// A refusal releases c, but for the requests besides the post that X
// accepted (xBilled counted them in bill): X bills only successful
// requests. A success keeps
// c and releases every other charge kept for m this month: those of
// attempts whose answer was lost, in this run or in one killed before it
// learned them (X had not posted m, or it would have refused this one as
// a duplicate). A "duplicate" after such attempts means one of them
// posted m: the oldest charge is kept, the others and c released. Of the
// earlier charges released, only the posts are: a picture's alt text set
// by an attempt whose answer was lost may have been billed. No answer (or
// one that may be a post) keeps c: X may have billed it.
func (s *spending) answered(m outbox.Message, tried int, c budget.Charge, bill *billedMeter, err error, now time.Time) {
	var apiErr *sender.APIError
	isAPI := errors.As(err, &apiErr)
	s.mu.Lock()
	s.retryNow = false
	depleted := isAPI && apiErr.Kind == sender.KindCreditsDepleted
	if depleted {
		s.depleted = now
	}
	wasDepleted := err == nil && (!s.depleted.IsZero() || !s.month.Depleted.IsZero())
	if err == nil {
		s.depleted = time.Time{}
	}
	s.mu.Unlock()
	if s.ledger == nil {
		return
	}
	var release []budget.Charge
	switch {
	case err == nil || (isAPI && apiErr.Kind == sender.KindDuplicate && tried > 0):
		kept, kerr := s.ledger.Kept(now, "m:"+m.ID)
		if kerr != nil {
			s.log.Error("daemon: read the charges of a message's earlier attempts; they stay counted", "id", m.ID, "err", kerr)
		}
		keep := c
		if err != nil && len(kept) > 0 {
			keep = kept[0] // the oldest: the attempt that posted it
		}
		for _, k := range kept {
			release = append(release, k.Filter(func(i int, r budget.Request) bool {
				return !slices.Contains(keep.IDs, k.IDs[i]) && (r.Item == budget.ItemPost || r.Item == budget.ItemPostURL)
			}))
		}
	case isAPI && apiErr.Kind != sender.KindProtocol:
		billed := bill.counts()
		release = []budget.Charge{c.Filter(func(_ int, r budget.Request) bool {
			if r.Item != budget.ItemPost && r.Item != budget.ItemPostURL && billed[r.Item] > 0 {
				billed[r.Item]--
				return false // X accepted it: billed
			}
			return true
		})}
	}
	for _, r := range release {
		if len(r.IDs) == 0 {
			continue
		}
		if rerr := s.ledger.Release(now, r); rerr != nil {
			s.log.Error("daemon: release the charge of a request X did not bill; it stays counted", "id", m.ID, "err", rerr)
		}
	}
	if depleted {
		if lerr := s.ledger.SetDepleted(now); lerr != nil {
			s.log.Error("daemon: record that X's credits are depleted", "err", lerr)
		}
	}
	if wasDepleted {
		if lerr := s.ledger.SetCredited(now); lerr != nil {
			s.log.Error("daemon: record that X takes posts again", "err", lerr)
		}
	}
}

// billedMeter counts, during one attempt to post a message to X, the
// priced requests besides the post that X accepted (see xBilled).
type billedMeter struct {
	mu sync.Mutex
	n  map[budget.Item]int
}

type billedKey struct{}

// withBilled returns ctx carrying a new meter, for the X adapter's Post.
func withBilled(ctx context.Context) (context.Context, *billedMeter) {
	b := &billedMeter{n: map[budget.Item]int{}}
	return context.WithValue(ctx, billedKey{}, b), b
}

// xBilled is the X adapter's charge seam: call it with the ctx given to
// Post for each priced request besides the post itself that X answered
// with success; a picture's alt text (POST /2/media/metadata) is
// budget.ItemMediaMetadata. The spending gate charged every such request
// with the post, before Post was called (spendPass.cost counts one per
// picture with an alt text), so none is sent uncharged; when the post is
// then refused, what xBilled counted stays charged (X billed it) and the
// rest is released. Without a meter in ctx (pitweet post, tests) it does
// nothing.
func xBilled(ctx context.Context, item budget.Item) {
	if b, ok := ctx.Value(billedKey{}).(*billedMeter); ok {
		b.mu.Lock()
		b.n[item]++
		b.mu.Unlock()
	}
}

// counts returns a copy of what the meter counted; a nil meter counted
// nothing.
func (b *billedMeter) counts() map[budget.Item]int {
	out := map[budget.Item]int{}
	if b == nil {
		return out
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.n {
		out[k] = v
	}
	return out
}

// limits takes in what X's answer (rc, or the error err) says of its
// rate limits. offset is X's clock minus ours, as that very answer
// corrected it. An answer without the headers makes them unknown.
func (s *spending) limits(rc Receipt, err error, now time.Time, offset time.Duration) {
	var apiErr *sender.APIError
	switch {
	case err == nil && rc.RateLimit != nil:
		s.observe(*rc.RateLimit, now, offset)
	case errors.As(err, &apiErr) && apiErr.Meta.Status != 0:
		s.observe(apiErr.Meta.RateLimit, now, offset)
	}
}

// observe takes in X's rate-limit headers, with the resets moved from X's
// clock to ours.
func (s *spending) observe(rl sender.RateLimit, now time.Time, offset time.Duration) {
	local := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Add(-offset)
	}
	s.mu.Lock()
	s.quota.Observe(budget.Limits{
		Limit: rl.Limit, Remaining: rl.Remaining, Reset: local(rl.Reset),
		Limit24h: rl.UserLimit24h, Remaining24h: rl.UserRemaining24h, Reset24h: local(rl.UserReset24h),
	}, now)
	s.mu.Unlock()
}

// HeldGroup is a number of X's messages held for one reason.
type HeldGroup struct {
	Why      string    `json:"why"`
	Messages int       `json:"messages"`
	Until    time.Time `json:"until,omitzero"` // when they are looked at again, at the latest
	Fix      string    `json:"fix,omitempty"`  // what the user can do
}

// SpendStatus is what X costs this month, the budget, and what is held.
type SpendStatus struct {
	Month         string  `json:"month"` // "2026-09": a calendar month in UTC
	SpentUSD      float64 `json:"spent_usd"`
	Spent         string  `json:"spent"` // "$0.45"
	Posts         int     `json:"posts"` // posts charged, with a link or without
	PostsWithLink int     `json:"posts_with_link"`
	UserReads     int     `json:"user_reads"`
	AltTexts      int     `json:"alt_texts"`
	// BudgetUSD and LeftUSD are absent when no monthly_budget is set.
	BudgetUSD *float64 `json:"budget_usd,omitempty"`
	Budget    string   `json:"budget,omitempty"`
	LeftUSD   *float64 `json:"left_usd,omitempty"`
	Left      string   `json:"left,omitempty"`
	// Prices are the prices in use.
	Prices map[string]float64 `json:"prices_usd"`
	// Recorded is where the spend is kept; Error says why it is not.
	Recorded string `json:"recorded,omitempty"`
	Error    string `json:"error,omitempty"`
	Damaged  int    `json:"damaged_records,omitempty"`
	// CreditsDepleted is when X last answered that the account's credits
	// are depleted; absent when it has not, or a post went through since.
	CreditsDepleted time.Time `json:"credits_depleted,omitzero"`
	// Quota is X's 24-hour allowance as its last answer said; absent
	// when X does not say (its pay-per-use tier leaves the headers out).
	Quota *QuotaStatus `json:"quota,omitempty"`
	Held  []HeldGroup  `json:"held"`
}

// QuotaStatus is X's 24-hour allowance of posts.
type QuotaStatus struct {
	Limit     int       `json:"limit"`
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"reset"`
	Low       bool      `json:"low"` // reports wait for the reset
}

// status makes what status shows.
func (s *spending) status(now time.Time) *SpendStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh(now)
	m := s.month
	st := &SpendStatus{
		Month: m.Name, SpentUSD: m.Spent.USD(), Spent: m.Spent.String(), Posts: m.Posts(), PostsWithLink: m.Requests[budget.ItemPostURL],
		UserReads: m.Requests[budget.ItemUserRead], AltTexts: m.Requests[budget.ItemMediaMetadata], Damaged: m.Damaged,
		Prices: map[string]float64{}, Held: []HeldGroup{},
	}
	for _, it := range budget.Items {
		st.Prices[string(it)] = s.settings.Prices.Of(it).USD()
	}
	if s.settings.Limited {
		b, left := s.settings.Budget.USD(), (s.settings.Budget - m.Spent).USD()
		st.BudgetUSD, st.LeftUSD, st.Budget = &b, &left, s.settings.Budget.String()
		st.Left = (s.settings.Budget - m.Spent).String()
	}
	switch {
	case s.ledger == nil:
		st.Error = "not recorded: " + s.ledgerErr.Error()
	case s.monthErr != nil:
		st.Recorded, st.Error = s.ledger.Path(), s.monthErr.Error()
	default:
		st.Recorded = s.ledger.Path()
	}
	dep := s.depleted
	if m.Depleted.After(dep) {
		dep = m.Depleted
	}
	st.CreditsDepleted = dep
	if limit, left, reset, ok := s.quota.Day(now); ok {
		low, _ := s.quota.Low(now)
		st.Quota = &QuotaStatus{Limit: limit, Remaining: left, Reset: reset, Low: low}
	}
	st.Held = append(st.Held, s.held...)
	return st
}

// chargeForSocket charges what a command run once (pitweet post, check
// --online) is about to send, for a client of the control socket that
// cannot write the state directory. The items are priced here; a post
// that does not fit the budget is refused.
func (s *spending) chargeForSocket(req SpendRequest, now time.Time) (*SpendAnswer, error) {
	if s.ledger == nil {
		return nil, fmt.Errorf("daemon: the X spend is not recorded: %w", s.ledgerErr)
	}
	switch req.Action {
	case "charge":
		s.mu.Lock()
		settings := s.settings
		s.refresh(now)
		spent, merr := s.month.Spent, s.monthErr
		s.mu.Unlock()
		var reqs []budget.Request
		switch {
		case req.Text != "" && len(req.Items) == 0:
			reqs = settings.Prices.ForPost(req.Text, min(max(req.Alts, 0), outbox.MaxImages))
		case req.Text == "" && len(req.Items) == 1 && req.Items[0] == budget.ItemUserRead:
			reqs = settings.Prices.One(budget.ItemUserRead)
		default:
			return nil, errors.New("daemon: a charge is of a post (its text) or of one user read (items: [\"user_read\"])")
		}
		if merr != nil && settings.Limited {
			return nil, fmt.Errorf("daemon: the X spend cannot be read: %w", merr)
		}
		if req.Text != "" && !settings.Fits(spent, budget.Total(reqs)) {
			return nil, fmt.Errorf("daemon: not sent: it would take X's spend in %s (UTC) to %s, over the monthly budget of %s; raise monthly_budget in [x], or wait for the next month",
				budget.MonthOf(now), spent+budget.Total(reqs), settings.Budget)
		}
		c, err := s.ledger.Charge(now, "socket:"+budget.Ref(req.Ref), reqs)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		for _, id := range c.IDs {
			if len(s.bySocket) < 1024 {
				s.bySocket[id] = true
			}
		}
		s.mu.Unlock()
		return &SpendAnswer{Charge: c, Status: s.status(now)}, nil
	case "release":
		if req.Charge == nil {
			return nil, errors.New("daemon: release what? the request has no charge")
		}
		s.mu.Lock()
		for _, id := range req.Charge.IDs {
			if !s.bySocket[id] {
				s.mu.Unlock()
				return nil, fmt.Errorf("daemon: charge %s was not made through the control socket; it stays", id)
			}
		}
		for _, id := range req.Charge.IDs {
			delete(s.bySocket, id)
		}
		s.mu.Unlock()
		if err := s.ledger.Release(now, *req.Charge); err != nil {
			return nil, err
		}
		return &SpendAnswer{Status: s.status(now)}, nil
	case "status":
		return &SpendAnswer{Status: s.status(now)}, nil
	}
	return nil, fmt.Errorf("daemon: unknown spend action %q; use charge, release or status", req.Action)
}

// SpendRequest is a control request about X's spend, from a command run
// once by a user who cannot write the state directory.
type SpendRequest struct {
	Action   string         `json:"action"`              // "charge", "release" or "status"
	Text     string         `json:"text,omitempty"`      // for the charge of a post: its text
	Alts     int            `json:"alts,omitempty"`      // and how many of its pictures have an alt text
	Items    []budget.Item  `json:"items,omitempty"`     // for the charge of anything else: ["user_read"]
	Ref      string         `json:"ref,omitempty"`       // for charge: what they are ("post", "check")
	Charge   *budget.Charge `json:"charge,omitempty"`    // for release
	StateDir string         `json:"state_dir,omitempty"` // the caller's: the daemon answers only for its own
}

// SpendAnswer is the daemon's answer to a SpendRequest.
type SpendAnswer struct {
	Charge budget.Charge `json:"charge"`
	Status *SpendStatus  `json:"status"`
}

// onBudget is the on_budget of the rule that made source ("button NAME",
// "report N", "alert N") in the running config: "hold" or "drop".
func (d *runner) onBudget(source string) string {
	kind, name, _ := strings.Cut(source, " ")
	var rule string
	switch kind {
	case "button":
		if b, ok := d.cfg.Button(name); ok {
			rule = b.OnBudget
		}
	case "report", "alert":
		var i int
		if _, err := fmt.Sscan(name, &i); err != nil || i < 1 {
			break
		}
		if kind == "report" && i <= len(d.cfg.Reports) {
			rule = d.cfg.Reports[i-1].OnBudget
		}
		if kind == "alert" && i <= len(d.cfg.Alerts) {
			rule = d.cfg.Alerts[i-1].OnBudget
		}
	}
	if rule == "" {
		rule = "hold"
	}
	return rule
}

// reloadSpending gives X's gate the reloaded config's prices and budget,
// and wakes X's delivery loop: what a higher budget or new credits let
// through goes now.
func (d *runner) reloadSpending(cfg *config.Config) {
	if d.spend == nil {
		return
	}
	d.spend.update(cfg.X.Spending)
	for _, del := range d.dels {
		if del.spend != nil {
			select {
			case del.wake <- struct{}{}:
			default:
			}
		}
	}
}

// spendControl answers a spend request on the control socket: a command
// run once that cannot write the state directory records what it spends
// on X through the daemon.
func (d *runner) spendControl(req ControlRequest, now time.Time) ControlResponse {
	switch {
	case req.Spend == nil:
		return ControlResponse{Error: "daemon: a spend request needs its spend field"}
	case d.spend == nil:
		return ControlResponse{Error: "daemon: this daemon does not post to X; it keeps no X spend"}
	case req.Spend.StateDir != "" && req.Spend.StateDir != d.stateDir:
		return ControlResponse{Error: fmt.Sprintf("daemon: this daemon keeps its state in %s, not %s", d.stateDir, req.Spend.StateDir)}
	}
	ans, err := d.spend.chargeForSocket(*req.Spend, now)
	if err != nil {
		return ControlResponse{Error: err.Error()}
	}
	if req.Spend.Action == "charge" {
		d.log.Info("daemon: a command charged X's spend through the control socket", "ref", req.Spend.Ref, "cost", ans.Charge.Total.String())
	}
	return ControlResponse{OK: true, Spend: ans}
}

// drop gives up m on this destination without sending it, for why.
func (d *deliverer) drop(m outbox.Message, why string) time.Duration {
	if err := d.box.Refuse(m.ID, d.name, why); err != nil {
		d.log.Error("daemon: record a dropped message", "id", m.ID, "err", err)
		return clockPoll
	}
	d.forget(m.ID)
	d.finish(m, "", why)
	d.log.Warn("daemon: a message was not posted and is kept in dead letters", "id", m.ID, "source", m.Source, "why", why)
	d.st.deadChanged()
	return 0
}

// paymentRequired holds m for an hour on a destination without a
// spending gate whose service wants payment (402).
func (d *deliverer) paymentRequired(m outbox.Message, err error, now time.Time) time.Duration {
	at := now.Add(creditsRetry)
	d.log.Error("daemon: the service wants payment; holding the message, trying again in an hour", "id", m.ID, "until", at, "err", err)
	if _, rerr := d.box.RetryAt(m.ID, d.name, at, err.Error()); rerr != nil {
		d.log.Error("daemon: record the wait for payment", "id", m.ID, "err", rerr)
	}
	d.st.setDelivery(d.name, "holding: the service wants payment (402)", at)
	return at.Sub(now)
}

// hold waits while the spending gate holds X's messages back, saying
// what in status; a message queued, or a reload, ends the wait.
func (d *deliverer) hold(p *spendPass, what string) time.Duration {
	until := p.holdUntil()
	d.st.setDelivery(d.name, what, until)
	d.holding = true
	return until.Sub(p.now)
}
