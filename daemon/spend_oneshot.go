package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"pitweet/budget"
	"pitweet/config"
	"pitweet/sender"
)

// A command run once (pitweet post, tweet, check --online) charges what it
// sends to X to the same month as the daemon, wherever it can:
//
//  1. in the state directory's ledger, when it may write there (root, or
//     the daemon's user): the file is the one record, and the daemon
//     reads what others appended before each decision;
//  2. else through the running daemon's control socket (a member of group
//     pitweet), which prices the request and writes it;
//  3. else nowhere: the command says that the spend was not recorded.
//
// A post that would take the month over the budget is not sent to X, by
// either of the first two; when neither is possible the budget cannot be
// checked, and the command says so too.

// oneShotSpend is where a command run once records its spend.
type oneShotSpend struct {
	cfg       *config.Config
	socket    string
	ledger    *budget.Ledger // nil: not writable here
	ledgerErr error
}

// oneShotCharge is one charge made by a command run once.
type oneShotCharge struct {
	charge  budget.Charge
	ledger  bool   // made in the ledger; else through the socket, if charge has ids
	where   string // where it is recorded, for messages
	spent   budget.Amount
	settled bool
}

// newOneShotSpend opens the ledger of cfg's state directory, if this
// process may write it; socket is the daemon's, for when it may not.
func newOneShotSpend(cfg *config.Config, socket string) *oneShotSpend {
	if socket == "" {
		socket = DefaultSocket()
	}
	o := &oneShotSpend{cfg: cfg, socket: socket}
	o.ledger, o.ledgerErr = budget.Open(cfg.StateDir, budget.Options{})
	return o
}

func (o *oneShotSpend) close() {
	if o.ledger != nil {
		o.ledger.Close()
	}
}

// errOverBudget marks a post not sent because of the budget.
var errOverBudget = errors.New("over X's monthly budget")

// chargePost records the cost of posting text before it is sent. The
// error is errOverBudget's when the post would take the month over the
// budget; notice is what the user should know when the spend could not be
// recorded (and the budget not checked).
// alts is how many of its pictures carry an alt text (each one a priced
// POST /2/media/metadata).
func (o *oneShotSpend) chargePost(text string, alts int, now time.Time) (c oneShotCharge, notice string, err error) {
	return o.charge(now, SpendRequest{Action: "charge", Ref: "post", Text: text, Alts: alts}, o.cfg.X.Spending.Prices.ForPost(text, alts), true)
}

// chargeUserRead records the cost of GET /2/users/me before it is sent.
func (o *oneShotSpend) chargeUserRead(now time.Time) (c oneShotCharge, notice string, err error) {
	return o.charge(now, SpendRequest{Action: "charge", Ref: "check", Items: []budget.Item{budget.ItemUserRead}},
		o.cfg.X.Spending.Prices.One(budget.ItemUserRead), false)
}

func (o *oneShotSpend) charge(now time.Time, req SpendRequest, reqs []budget.Request, post bool) (c oneShotCharge, notice string, err error) {
	s := o.cfg.X.Spending
	if o.ledger != nil {
		m, merr := o.ledger.Month(now)
		if merr == nil && post && !s.Fits(m.Spent, budget.Total(reqs)) {
			return c, "", fmt.Errorf("%w: %s of %s spent in %s (UTC), and this post costs %s; raise monthly_budget in [x] of %s, or wait for %s",
				errOverBudget, m.Spent, s.Budget, m.Name, budget.Total(reqs), o.cfg.Path, budget.MonthOf(budget.NextMonth(now)))
		}
		ch, cerr := o.ledger.Charge(now, req.Ref, reqs)
		if merr == nil && cerr == nil {
			return oneShotCharge{charge: ch, ledger: true, where: o.ledger.Path(), spent: m.Spent + ch.Total}, "", nil
		}
		if cerr == nil {
			cerr = merr
		}
		if !errors.Is(cerr, fs.ErrPermission) {
			return c, "the X spend was not recorded (" + cerr.Error() + ")" + unchecked(s), nil
		}
		o.ledgerErr = cerr
	}
	req.StateDir = o.cfg.StateDir
	resp, serr := Call(o.socket, ControlRequest{Op: "spend", Spend: &req})
	switch {
	case serr != nil:
		return c, "the X spend was not recorded: " + o.unrecorded(serr) + unchecked(s), nil
	case !resp.OK && post && isOverBudget(resp.Error):
		return c, "", fmt.Errorf("%w: %s", errOverBudget, resp.Error)
	case !resp.OK || resp.Spend == nil:
		return c, "the X spend was not recorded: the daemon refused it: " + resp.Error + unchecked(s), nil
	}
	c = oneShotCharge{charge: resp.Spend.Charge, where: "the daemon's record, through " + o.socket}
	if resp.Spend.Status != nil {
		c.spent, _ = budget.FromUSD(resp.Spend.Status.SpentUSD)
	}
	return c, "", nil
}

// unchecked says that the budget was not checked, when there is one.
func unchecked(s budget.Settings) string {
	if s.Limited {
		return "; the monthly budget was not checked"
	}
	return ""
}

// unrecorded says why neither the ledger nor the daemon took a charge;
// serr is why the control socket did not.
func (o *oneShotSpend) unrecorded(serr error) string {
	var here string
	switch {
	case errors.Is(o.ledgerErr, fs.ErrNotExist):
		here = fmt.Sprintf("the state directory %s does not exist yet (the daemon makes it when it first runs)", o.cfg.StateDir)
	case errors.Is(o.ledgerErr, fs.ErrPermission):
		here = fmt.Sprintf("this user may not write the state directory %s", o.cfg.StateDir)
	default:
		here = fmt.Sprintf("the state directory's record cannot be used (%v)", o.ledgerErr)
	}
	there := "no daemon runs to record it"
	if !errors.Is(serr, ErrNoDaemon) {
		there = "the daemon could not be asked (" + serr.Error() + ")"
	}
	msg := here + ", and " + there
	if errors.Is(o.ledgerErr, fs.ErrPermission) {
		msg += "; run as root (sudo), or while the daemon runs"
	}
	return msg
}

// isOverBudget reports whether the daemon's refusal of a charge is the
// budget's.
func isOverBudget(msg string) bool { return strings.Contains(msg, "over the monthly budget") }

// settle releases c when X's answer err shows X did not act on the
// request (a refusal: X bills only successful requests), and records what
// the answer says of the account's credits, where the ledger is writable.
//
// bill counted the alt texts X set before the refusal (xBilled): those
// stay charged, where the charge says which of its requests they are.
func (o *oneShotSpend) settle(c *oneShotCharge, err error, bill *billedMeter, now time.Time) {
	if c.settled || len(c.charge.IDs) == 0 {
		return
	}
	c.settled = true
	var apiErr *sender.APIError
	refused := errors.As(err, &apiErr) && apiErr.Kind != sender.KindProtocol
	billed := bill.counts()
	release := c.charge.Filter(func(_ int, r budget.Request) bool {
		if r.Item == budget.ItemMediaMetadata && billed[r.Item] > 0 {
			billed[r.Item]--
			return false // X set it: billed
		}
		return true
	})
	if c.ledger {
		if refused && len(release.IDs) > 0 {
			if o.ledger.Release(now, release) == nil {
				c.spent -= release.Total
			}
		}
		switch {
		case refused && apiErr.Kind == sender.KindCreditsDepleted:
			o.ledger.SetDepleted(now)
		case err == nil:
			if m, merr := o.ledger.Month(now); merr == nil && !m.Depleted.IsZero() {
				o.ledger.SetCredited(now)
			}
		}
		return
	}
	if refused && len(release.IDs) > 0 {
		resp, serr := Call(o.socket, ControlRequest{Op: "spend", Spend: &SpendRequest{Action: "release", Charge: &release, StateDir: o.cfg.StateDir}})
		if serr == nil && resp.OK {
			c.spent -= release.Total
		}
	}
}

// CheckSpend is config.CheckOptions.Spend for pitweet check --online: it
// charges the check's user read to the month's X spend before it is sent
// (through socket when the state directory cannot be written; "" means
// DefaultSocket()), and releases it if X refuses the request.
func CheckSpend(socket string) func(cfg *config.Config) (config.CheckResult, func(error)) {
	return func(cfg *config.Config) (config.CheckResult, func(error)) {
		now := time.Now()
		o := newOneShotSpend(cfg, socket)
		c, notice, err := o.chargeUserRead(now)
		res := config.CheckResult{What: "spend", Detail: fmt.Sprintf("check --online: GET /2/users/me costs one user read, %s", cfg.X.Spending.Prices.UserRead)}
		switch {
		case err != nil:
			res.Err, res.Warn = err, true
		case notice != "":
			res.Err, res.Warn = errors.New(notice), true
		default:
			res.Detail += fmt.Sprintf("; charged to X's spend of %s (UTC), %s with it (recorded in %s)", budget.MonthOf(now), c.spent, c.where)
		}
		return res, func(err error) {
			o.settle(&c, err, nil, time.Now())
			o.close()
		}
	}
}
