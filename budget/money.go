// Package budget is what posting to X costs and how much of it a month may
// take: the price of each request pitweet makes (X's published pay-per-use
// prices by default), the month's spend kept durably in the state
// directory (Ledger), the monthly budget, and what X's rate-limit headers
// say is left of the account's quota (Quota).
//
// A request is charged to the month before it is sent, and the charge is
// released only when X's answer shows X did not act on it (X bills only
// successful requests that return data): a charge whose answer was lost is
// kept, so a kill -9 or a power cut never forgets a request X may have
// billed. Months are calendar months in UTC.
package budget

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is money in millionths of a US dollar. X's prices ($0.015,
// $0.005) are whole numbers in it, so sums of them never round.
type Amount int64

// Dollar is one US dollar.
const Dollar Amount = 1_000_000

// MaxAmount bounds a price or a budget: a million dollars.
const MaxAmount = 1_000_000 * Dollar

// FromUSD converts dollars, as a config file writes them (0.015, 5), to an
// Amount rounded to the millionth. It refuses what is not a number, is
// negative, or is above MaxAmount.
func FromUSD(usd float64) (Amount, error) {
	switch {
	case math.IsNaN(usd) || math.IsInf(usd, 0):
		return 0, errors.New("budget: not a number of dollars")
	case usd < 0:
		return 0, fmt.Errorf("budget: %g dollars is negative", usd)
	case usd > float64(MaxAmount/Dollar):
		return 0, fmt.Errorf("budget: %g dollars is more than %s", usd, MaxAmount)
	}
	return Amount(math.Round(usd * float64(Dollar))), nil
}

// USD is a in dollars, for JSON.
func (a Amount) USD() float64 { return float64(a) / float64(Dollar) }

// String writes a in dollars with at least two decimals and as many more
// as it needs: "$0.015", "$0.20", "$5.00", "-$0.01".
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	frac := strconv.FormatInt(int64(a%Dollar)+int64(Dollar), 10)[1:] // six digits
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + strconv.FormatInt(int64(a/Dollar), 10) + "." + frac
}

// Cents writes a rounded to the cent: "$144.00", "$0.02". It is for
// estimates, where more digits would claim a precision they lack.
func (a Amount) Cents() string {
	c := (a + 5_000) / 10_000 * 10_000
	if a < 0 {
		c = (a - 5_000) / 10_000 * 10_000
	}
	s := c.String()
	return s
}
