package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/budget"
	"pitweet/daemon"
	"pitweet/fakex"
)

// ledgerMonth reads this month's X spend from the rig's state directory,
// as a process of its own would.
func ledgerMonth(t testing.TB, e *e2e) budget.Month {
	t.Helper()
	l, err := budget.Open(filepath.Join(e.dir, "state"), budget.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := l.Month(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitPostRequests waits until fakex has seen at least n posting
// requests (the last may still be in flight).
func waitPostRequests(t testing.TB, x *fakex.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for want := n; ; {
		if _, err := x.WaitRequests(ctx, want); err != nil {
			t.Fatalf("waiting for %d posting requests: %v", n, err)
		}
		if len(postRequests(x)) >= n {
			return
		}
		want = len(x.Requests()) + 1
	}
}

// The spend survives kill -9: the real daemon is killed with SIGKILL at
// random moments around its posts (some answers slow, some lost after X
// accepted the post), restarted each time, and the month's spend on disk
// is never lower than the posts X accepted, nor higher than those plus one
// per kill (a request in flight whose outcome the killed run never
// learned). Once every message is posted, the restarted runs have settled
// those too: one charge per post X accepted.
func TestE2ESpendSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts the daemon many times")
	}
	e := newE2E(t, "127.0.0.1:0", "")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	kills, presses, unsettled := 0, 0, 0
	for trial := range 12 {
		switch rng.IntN(3) {
		case 0:
			e.x.SetFault(fakex.Fault{Mode: fakex.ModeSlow, Delay: time.Duration(50+rng.IntN(250)) * time.Millisecond})
		case 1:
			e.x.SetFault(fakex.Fault{Mode: fakex.ModeResetAfterAccept, Count: 1})
		default:
			e.x.SetFault(fakex.Fault{})
		}
		e.start()
		before := len(postRequests(e.x))
		n := 1 + rng.IntN(3)
		for range n {
			e.press("doorbell")
			presses++
		}
		waitPostRequests(t, e.x, before+1+rng.IntN(n))
		if err := e.signal(syscall.SIGKILL); err == nil {
			t.Fatal("pitweet exited cleanly after SIGKILL")
		}
		kills++
		accepted := len(e.x.Tweets())
		m := ledgerMonth(t, e)
		if m.Posts() < accepted || m.Posts() > accepted+kills {
			t.Fatalf("trial %d: %d posts charged, %d accepted by X after %d kills; want from %d to %d", trial, m.Posts(), accepted, kills, accepted, accepted+kills)
		}
		unsettled = max(unsettled, m.Posts()-accepted)
	}
	e.x.SetFault(fakex.Fault{})
	e.start()
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	accepted := len(e.x.Tweets())
	m := ledgerMonth(t, e)
	if accepted != presses {
		t.Fatalf("%d presses, %d tweets", presses, accepted)
	}
	if m.Posts() != accepted || m.Spent != budget.Amount(accepted)*budget.Published.Post {
		t.Fatalf("%d posts charged (%s) for %d accepted after %d kills; want one each", m.Posts(), m.Spent, accepted, kills)
	}
	st := e.status()
	if st.Spend == nil || st.Spend.Posts != m.Posts() || st.Spend.Spent != m.Spent.String() {
		t.Fatalf("status shows %+v; the ledger %+v", st.Spend, m)
	}
	t.Logf("%d kills, %d presses, %d tweets accepted, %d posts charged (%s); right after a kill, up to %d more charged than accepted (requests in flight), settled by the next runs",
		kills, presses, accepted, m.Posts(), m.Spent, unsettled)
}

// X answers 402 CreditsDepleted: the message is held (no dead letter, no
// retry loop), status says what to do, and after credits are added a
// reload posts what was held.
func TestE2ECreditsDepleted(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeCredits}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitStatus("the credits hold", func(s *daemon.Status) bool {
		return s.Spend != nil && !s.Spend.CreditsDepleted.IsZero() && len(s.Spend.Held) == 1 && s.Spend.Held[0].Messages == 1
	})
	e.press("mailbox")
	st := e.waitStatus("both held", func(s *daemon.Status) bool {
		return len(s.Spend.Held) == 1 && s.Spend.Held[0].Messages == 2
	})
	if reqs := postRequests(e.x); len(reqs) != 1 || reqs[0].Status != 402 {
		t.Fatalf("requests %+v; want one, answered 402, and none while held", reqs)
	}
	if st.DeadLetters != 0 || st.Queue != 2 || st.Spend.Posts != 0 {
		t.Fatalf("status %+v: want both queued, none dead, nothing charged", st)
	}
	out, _, code := e.pitweet("status")
	if code != 0 || !strings.Contains(out, "x credits:    DEPLETED: X answered at ") ||
		!strings.Contains(out, "add credits in the X developer console (https://console.x.com), then pitweet reload") ||
		!strings.Contains(out, "x held:       2 messages: X answered at ") {
		t.Fatalf("status:\n%s", out)
	}
	t.Logf("pitweet status while the credits are depleted:\n%s", out)
	e.x.SetFault(fakex.Fault{})
	if out, errOut, code := e.pitweet("reload"); code != 0 {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	e.waitTweets(2)
	st = e.waitStatus("the spend", func(s *daemon.Status) bool { return s.Queue == 0 && s.Spend.Posts == 2 })
	if !st.Spend.CreditsDepleted.IsZero() || len(st.Spend.Held) != 0 {
		t.Fatalf("after the reload: %+v", st.Spend)
	}
	if m := ledgerMonth(t, e); m.Posts() != 2 || !m.Depleted.IsZero() {
		t.Fatalf("ledger %+v", m)
	}
}

// When X's 24-hour allowance reaches zero, nothing more is sent until its
// reset.
func TestE2EDailyLimitReachesZero(t *testing.T) {
	t.Parallel()
	e := newE2EWith(t, "127.0.0.1:0", "", func(x *fakex.Server) { x.DailyLimit = 2 })
	e.start()
	e.press("doorbell")
	e.press("mailbox")
	e.waitTweets(2)
	e.press("doorbell")
	st := e.waitStatus("the hold", func(s *daemon.Status) bool {
		return s.Spend != nil && len(s.Spend.Held) == 1 && s.Spend.Held[0].Messages == 1
	})
	reqs := postRequests(e.x)
	if len(reqs) != 2 {
		t.Fatalf("%d posting requests; want 2: none after the allowance ran out", len(reqs))
	}
	q := st.Spend.Quota
	if q == nil || q.Remaining != 0 || q.Limit != 2 || !strings.Contains(st.Spend.Held[0].Why, "24-hour limit of 2 posts is used up") {
		t.Fatalf("status %+v %+v", st.Spend, q)
	}
	// The hold lasts until X's reset, 24 hours after the window began
	// (within a second: X's reset is whole seconds, on its clock).
	reset := reqs[0].At.Add(24 * time.Hour)
	if d := q.Reset.Sub(reset); d > time.Second || d < -time.Second {
		t.Fatalf("held until %v; X resets at %v", q.Reset, reset)
	}
	out, _, _ := e.pitweet("status")
	if !strings.Contains(out, "x quota:      0 of 2 posts left for 24 hours, resets ") || !strings.Contains(out, "nothing is sent to X before then") {
		t.Fatalf("status:\n%s", out)
	}
}

// A budget in the config: status shows the month's spend against it, and
// a post over it waits; pitweet post refuses one.
func TestE2EBudgetHoldsAndStatus(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	text, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// Room for two posts.
	text = []byte(strings.Replace(string(text), "[x]\n", "[x]\nmonthly_budget = 0.03\n", 1))
	if err := os.WriteFile(e.config, text, 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	for range 3 {
		e.press("doorbell")
	}
	e.waitTweets(2)
	st := e.waitStatus("the hold", func(s *daemon.Status) bool { return s.Spend != nil && len(s.Spend.Held) == 1 })
	if st.Spend.Posts != 2 || st.Spend.Spent != "$0.03" || st.Spend.Left != "$0.00" || st.Queue != 1 || len(e.x.Tweets()) != 2 {
		t.Fatalf("status %+v, %d tweets", st.Spend, len(e.x.Tweets()))
	}
	out, _, _ := e.pitweet("status")
	for _, want := range []string{
		"x spend:      $0.03 in " + budget.MonthOf(time.Now()) + " (UTC): 2 posts (0 with a link); budget $0.03, $0.00 left\n",
		"x held:       1 message: over X's monthly budget: $0.03 of $0.03 spent in " + budget.MonthOf(time.Now()) + " (UTC); until ",
		"they wait for the next month; raise monthly_budget in [x] and pitweet reload to post them now\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("pitweet status with a budget of $0.03:\n%s", out)
	var js struct {
		Spend map[string]any `json:"x_spend"`
	}
	jout, _, _ := e.pitweet("status", "--json")
	if err := json.Unmarshal([]byte(jout), &js); err != nil || js.Spend["budget_usd"] != 0.03 || js.Spend["spent_usd"] != 0.03 || js.Spend["posts"] != 2.0 {
		t.Fatalf("status --json x_spend: %v (%v)", js.Spend, err)
	}
	// pitweet post is held to the same budget.
	pout, perr, code := e.pitweet("post", "--config", e.config, "one more")
	if code != 1 || !strings.Contains(pout, "x: failed: not posted: over X's monthly budget: $0.03 of $0.03 spent in") {
		t.Fatalf("post over the budget: exit %d\n%s%s", code, pout, perr)
	}
	// A higher budget and a reload release the held press.
	text = []byte(strings.Replace(string(text), "monthly_budget = 0.03", "monthly_budget = 1", 1))
	if err := os.WriteFile(e.config, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := e.pitweet("reload"); code != 0 {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	e.waitTweets(3)
	if len(e.x.Tweets()) != 3 {
		t.Fatalf("%d tweets; the refused post reached X", len(e.x.Tweets()))
	}
}

// pitweet check says what the config costs on X: the prices, each
// template that can produce a link and what that costs, the month's
// estimate of the schedule against the budget, and with --online that the
// check itself costs one user read.
func TestCheckSpending(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", `
[[report]]
every = "1h"
text = "Room {{.Sensors.room.Temperature}}, chart at example.com/room"

[[report]]
every = "6h"
text = "Pressure {{.Sensors.room.Pressure}}"

[[alert]]
when = "room.Temperature > 30"
text = "Too warm: {{.Sensors.room.Temperature}} {{if .Long}}https://pi.example.org/cam{{end}}"
`)
	text, _ := os.ReadFile(e.config)
	text = []byte(strings.Replace(string(text), "[x]\n", "[x]\nmonthly_budget = 5.00\n", 1))
	os.WriteFile(e.config, text, 0o644)
	os.Mkdir(filepath.Join(e.dir, "state"), 0o700)
	out, errOut, code := e.pitweet("check", "--config", e.config, "--online")
	var spend []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " spend ") {
			spend = append(spend, line)
		}
	}
	want := []string{
		"ok    spend prices: $0.015 a post, $0.20 with a link, $0.01 a user read, $0.005 an alt text (X's published prices as of 2026-08-13; they change: https://docs.x.com/x-api/getting-started/pricing)",
		"warn  spend alert 1 text: contains a link (https://pi.example.org/cam): each post costs $0.20 instead of $0.015",
		"warn  spend report 1 text: contains a link (example.com/room): each post costs $0.20 instead of $0.015, about $144.00 a month at every = 1h ($10.80 without the link)",
		"warn  spend schedule: the reports alone cost about $145.80 a month, more than monthly_budget = $5.00: from about day 2 of each month, posts to X wait for the next month or are dropped (on_budget); raise monthly_budget, or report less often (report 1: 720 posts of $0.20; report 2: 120 posts of $0.015)",
		"ok    spend check --online: GET /2/users/me costs one user read, $0.01; charged to X's spend of " + budget.MonthOf(time.Now()) + " (UTC), $0.01 with it (recorded in " + filepath.Join(e.dir, "state", "spend") + ")",
	}
	if code != 0 || strings.Join(spend, "\n") != strings.Join(want, "\n") {
		t.Fatalf("check: exit %d\n%s%s\nspend lines:\n%s\nwant:\n%s", code, out, errOut, strings.Join(spend, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("pitweet check --online:\n%s", out)
	if m := ledgerMonth(t, e); m.Requests[budget.ItemUserRead] != 1 || m.Spent != budget.Published.UserRead {
		t.Fatalf("ledger %+v", m)
	}
	// Refused by X (credits depleted): the user read is not billed.
	e.x.SetFault(fakex.Fault{Mode: fakex.ModeCredits})
	out, _, code = e.pitweet("check", "--config", e.config, "--online")
	if code != 1 || !strings.Contains(out, "add credits in the X developer console") {
		t.Fatalf("check with no credits: %d\n%s", code, out)
	}
	if m := ledgerMonth(t, e); m.Requests[budget.ItemUserRead] != 1 || m.Depleted.IsZero() {
		t.Fatalf("ledger %+v; want the refused read released and the depletion recorded", m)
	}
}

// A file planted as this month's spend record (here a text that is not
// one) is refused with its name and what to do, never read as a month of
// nothing: with a budget, X's posts are held (the budget cannot be kept);
// after the file is moved away and the daemon reloaded, they go. The
// daemon never stops for it.
func TestE2EPlantedSpendFile(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	text, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(text), "[x]\n", "[x]\nmonthly_budget = 1\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	month := filepath.Join(e.dir, "state", budget.Dir, budget.MonthOf(time.Now()))
	if err := os.MkdirAll(filepath.Dir(month), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(month, []byte("api_key=not a spend record\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	st := e.waitStatus("the hold", func(s *daemon.Status) bool {
		return s.Spend != nil && len(s.Spend.Held) == 1 && s.Spend.Held[0].Messages == 1
	})
	if len(e.x.Tweets()) != 0 || !strings.Contains(st.Spend.Error, "not the spend record of "+budget.MonthOf(time.Now())) ||
		!strings.Contains(st.Spend.Error, "move it away") {
		t.Fatalf("%d tweets, spend %+v; want none posted and the file named", len(e.x.Tweets()), st.Spend)
	}
	out, _, code := e.pitweet("status")
	if code != 0 || !strings.Contains(out, "  NOT RECORDED: ") || !strings.Contains(out, "x held:       1 message: the X spend cannot be read, and a monthly budget is set") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	t.Logf("pitweet status with a planted spend file:\n%s", out)
	if err := os.Rename(month, month+".planted"); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := e.pitweet("reload"); code != 0 {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	e.waitTweets(1)
	st = e.waitStatus("the charge", func(s *daemon.Status) bool { return s.Spend.Posts == 1 })
	if st.Spend.Error != "" {
		t.Fatalf("after moving the file away: %+v", st.Spend)
	}
}

// When X's 24-hour allowance runs low (3 of 6 left), reports give way:
// they wait for the reset, while a press still goes out.
func TestE2EDailyLimitLowReportsGiveWay(t *testing.T) {
	t.Parallel()
	e := newE2EWith(t, "127.0.0.1:0", `
[[report]]
every = "1s"
text = "Report {{.Count}}"
`, func(x *fakex.Server) { x.DailyLimit = 6 })
	e.start()
	e.waitTweets(3)
	st := e.waitStatus("the reports held", func(s *daemon.Status) bool {
		return s.Spend != nil && len(s.Spend.Held) == 1 && strings.HasPrefix(s.Spend.Held[0].Why, "reports give way: 3 of X's 6 posts for 24 hours left")
	})
	if q := st.Spend.Quota; q == nil || q.Remaining != 3 || !q.Low {
		t.Fatalf("quota %+v; want 3 left, low", q)
	}
	out, _, _ := e.pitweet("status")
	if !strings.Contains(out, "x quota:      3 of 6 posts left for 24 hours, resets ") || !strings.Contains(out, "; reports wait for it\n") {
		t.Fatalf("status:\n%s", out)
	}
	t.Logf("pitweet status with the 24-hour allowance low:\n%s", out)
	e.press("doorbell")
	tweets := e.waitTweets(4)
	reports := 0
	for _, tw := range tweets {
		if strings.HasPrefix(tw.Text, "Report ") {
			reports++
		}
	}
	if !strings.HasPrefix(tweets[3].Text, "Ding dong") || reports != 3 || len(tweets) != 4 {
		t.Fatalf("tweets %+v; want three reports, then the press alone", tweets)
	}
}
