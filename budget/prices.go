package budget

import (
	"time"

	"pitweet/textlen"
)

// An Item is a kind of request X prices.
type Item string

// The requests pitweet makes that X prices.
const (
	ItemPost          Item = "post"           // POST /2/tweets whose text has no link
	ItemPostURL       Item = "post_url"       // POST /2/tweets whose text has a link
	ItemUserRead      Item = "user_read"      // GET /2/users/me (pitweet check --online)
	ItemMediaMetadata Item = "media_metadata" // POST /2/media/metadata (a picture's alt text)
)

// Items lists every Item, in the order status shows them.
var Items = []Item{ItemPost, ItemPostURL, ItemUserRead, ItemMediaMetadata}

// Valid reports whether it is an Item this package prices.
func (it Item) Valid() bool {
	switch it {
	case ItemPost, ItemPostURL, ItemUserRead, ItemMediaMetadata:
		return true
	}
	return false
}

// Prices are what X charges for each request, in the config's [x]
// price_post, price_post_url, price_user_read and price_media_metadata.
type Prices struct {
	Post          Amount // a post without a link
	PostURL       Amount // a post whose text has a link
	UserRead      Amount // reading a user (GET /2/users/me)
	MediaMetadata Amount // setting a picture's alt text
}

// Published are X's prices as its pricing page lists them (PriceSource, as
// of PriceDate): Post: Create $0.015 per request, Post: Create (with URL)
// $0.200, User: Read $0.010 per resource, Media Metadata $0.005 per
// request. Media upload is not on the list, and is taken as free. X says
// its prices are subject to change.
var Published = Prices{Post: 15_000, PostURL: 200_000, UserRead: 10_000, MediaMetadata: 5_000}

// Where Published comes from.
const (
	PriceSource = "https://docs.x.com/x-api/getting-started/pricing"
	PriceDate   = "2026-08-13"
)

// Of returns the price of one request of kind it.
func (p Prices) Of(it Item) Amount {
	switch it {
	case ItemPost:
		return p.Post
	case ItemPostURL:
		return p.PostURL
	case ItemUserRead:
		return p.UserRead
	case ItemMediaMetadata:
		return p.MediaMetadata
	}
	return 0
}

// A Request is one priced request.
type Request struct {
	Item  Item
	Price Amount
}

// ForPost returns the priced requests of posting text with alts pictures
// that carry an alt text: the post, at the price of a post with a link
// when X would link something in text (HasURL), and one media metadata
// request per alt text.
func (p Prices) ForPost(text string, alts int) []Request {
	it := ItemPost
	if HasURL(text) {
		it = ItemPostURL
	}
	reqs := []Request{{it, p.Of(it)}}
	for range alts {
		reqs = append(reqs, Request{ItemMediaMetadata, p.MediaMetadata})
	}
	return reqs
}

// One returns the single priced request of kind it.
func (p Prices) One(it Item) []Request { return []Request{{it, p.Of(it)}} }

// Total is what reqs cost together.
func Total(reqs []Request) Amount {
	var t Amount
	for _, r := range reqs {
		t += r.Price
	}
	return t
}

// HasURL reports whether X would count text as a post with a URL: whether
// it holds anything X links, an http:// or https:// address or a bare
// domain such as example.com (X's price list does not say what counts;
// pitweet takes what X turns into a link, as twitter-text finds them).
func HasURL(text string) bool { return len(textlen.URLs(text)) > 0 }

// Settings are the [x] keys that govern spending.
type Settings struct {
	Prices Prices
	// Budget is the most a month may spend, when Limited; without a
	// budget nothing is held for its cost.
	Budget  Amount
	Limited bool
}

// Fits reports whether a request of cost may be sent when spent is spent
// already this month: whether it keeps the month within the budget.
func (s Settings) Fits(spent, cost Amount) bool {
	return !s.Limited || spent+cost <= s.Budget
}

// MonthOf names the calendar month (in UTC) of t: "2026-09".
func MonthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// NextMonth returns when the month after t's begins: midnight UTC on the
// first of the next month.
func NextMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// DaysIn is how many days the month of t has.
func DaysIn(t time.Time) int {
	return NextMonth(t).AddDate(0, 0, -1).Day()
}
