package main

import (
	"fmt"
	"io"
	"time"

	"pitweet/daemon"
)

// printSpend prints what X costs this month, the budget, and what is
// held back and why.
func printSpend(w io.Writer, sp *daemon.SpendStatus, at func(time.Time) string) {
	if sp == nil {
		return
	}
	line := daemon.Printable
	spent := fmt.Sprintf("%s in %s (UTC): %s (%d with a link)", sp.Spent, sp.Month, plural(sp.Posts, "post"), sp.PostsWithLink)
	if sp.UserReads > 0 {
		spent += ", " + plural(sp.UserReads, "user read")
	}
	if sp.AltTexts > 0 {
		spent += ", " + plural(sp.AltTexts, "alt text")
	}
	if sp.BudgetUSD != nil {
		spent += fmt.Sprintf("; budget %s, %s left", sp.Budget, sp.Left)
	} else {
		spent += "; no monthly budget"
	}
	fmt.Fprintf(w, "x spend:      %s\n", spent)
	if sp.Error != "" {
		fmt.Fprintf(w, "  NOT RECORDED: %s\n", line(sp.Error))
	}
	if sp.Damaged > 0 {
		fmt.Fprintf(w, "  %d damaged records of the month were skipped\n", sp.Damaged)
	}
	if !sp.CreditsDepleted.IsZero() {
		fmt.Fprintf(w, "x credits:    DEPLETED: X answered at %s that the account has no credits left; add credits in the X developer console (https://console.x.com), then pitweet reload\n", at(sp.CreditsDepleted))
	}
	if q := sp.Quota; q != nil {
		text := fmt.Sprintf("%d of %d posts left for 24 hours, resets %s", q.Remaining, q.Limit, at(q.Reset))
		if q.Remaining == 0 {
			text += "; nothing is sent to X before then"
		} else if q.Low {
			text += "; reports wait for it"
		}
		fmt.Fprintf(w, "x quota:      %s\n", text)
	}
	for _, g := range sp.Held {
		text := fmt.Sprintf("%s: %s", plural(g.Messages, "message"), line(g.Why))
		if !g.Until.IsZero() {
			text += "; until " + at(g.Until)
		}
		if g.Fix != "" {
			text += "; " + g.Fix
		}
		fmt.Fprintf(w, "x held:       %s\n", text)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
