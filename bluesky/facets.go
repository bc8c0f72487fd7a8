package bluesky

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Facet is an app.bsky.richtext.facet with one #link feature: the bytes
// Start to End of the post's text (UTF-8, end exclusive) are a link to
// URI.
type Facet struct {
	Start, End int
	URI        string
}

// Links finds the links in text as Bluesky's own app finds them when a post
// is written (detectFacets in the @atproto/api package, whose facets the
// app sends), so a post from pitweet shows the same links as the same text
// typed in the app:
//
//   - a link starts at the beginning of the text or after white space or
//     "(";
//   - it is http:// or https:// followed by anything but white space, or a
//     bare domain (letters and digits in dot-separated labels, the first
//     starting with a letter, no "-") followed by anything but white
//     space, which links to https:// and the text;
//   - a bare domain is a link only if its last label is a top-level
//     domain: the app checks the full IANA list; pitweet knows every
//     country code and the common generic ones (topLevel), so a bare
//     domain under a rare one stays text (write https:// before it);
//   - one trailing ".", ",", ";", ":", "!" or "?" is left out, and then a
//     trailing ")" when the link has no "(".
//
// The facets' offsets count bytes of text's UTF-8 (as the lexicon's
// byteSlice says), fall on character and grapheme-cluster boundaries (a
// link that would not is left as text), and do not overlap.
func Links(text string) []Facet {
	var facets []Facet
	var bounds map[int]bool // grapheme boundaries, computed when needed
	// try matches at start; a match moves the scan past its end, link or
	// not, as the app's global regular expression does.
	try := func(start int) (end int) {
		f, end, ok := linkAt(text, start)
		if ok {
			facets = appendFacet(facets, text, f, &bounds)
		}
		return end
	}
	for k := 0; k < len(text); {
		if k == 0 {
			if end := try(0); end > 0 {
				k = end
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(text[k:])
		if unicode.IsSpace(r) || r == '(' {
			if end := try(k + n); end > 0 {
				k = end
				continue
			}
		}
		k += n
	}
	return facets
}

// appendFacet adds f unless its ends are not grapheme-cluster boundaries
// of text or it overlaps the last one.
func appendFacet(facets []Facet, text string, f Facet, bounds *map[int]bool) []Facet {
	if *bounds == nil {
		*bounds = graphemeBounds(text)
	}
	if !(*bounds)[f.Start] || !(*bounds)[f.End] || f.Start >= f.End {
		return facets
	}
	if n := len(facets); n > 0 && facets[n-1].End > f.Start {
		return facets
	}
	return append(facets, f)
}

// graphemeBounds returns the byte offsets of text's grapheme-cluster
// boundaries, 0 and len(text) included.
func graphemeBounds(text string) map[int]bool {
	b := map[int]bool{0: true, len(text): true}
	// FirstGraphemeClusterInString, not uniseg.Graphemes: the latter also
	// finds word, sentence and line breaks, whose tables the binary would
	// carry for nothing.
	rest, state, at := text, -1, 0
	for rest != "" {
		var cluster string
		cluster, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		at += len(cluster)
		b[at] = true
	}
	return b
}

// linkAt matches the app's link pattern at text[start:]. end is where the
// match ends (0: no match); ok says whether it is a link (a bare domain
// under an unknown top-level domain matches, and is not one).
func linkAt(text string, start int) (f Facet, end int, ok bool) {
	rest := text[start:]
	scheme := 0
	switch {
	case hasPrefixFold(rest, "https://"):
		scheme = len("https://")
	case hasPrefixFold(rest, "http://"):
		scheme = len("http://")
	}
	var domain string
	if scheme > 0 {
		n := nonSpace(rest[scheme:])
		if n == 0 {
			return Facet{}, 0, false // "http://" and nothing: no bare domain either
		} else {
			end = start + scheme + n
		}
	}
	if scheme == 0 {
		d := bareDomain(rest)
		if d == 0 {
			return Facet{}, 0, false
		}
		domain = rest[:d]
		end = start + d + nonSpace(rest[d:])
	}
	match := text[start:end]
	uri := match
	if scheme == 0 {
		last := domain[strings.LastIndexByte(domain, '.')+1:]
		if !topLevel[strings.ToLower(last)] {
			return Facet{}, end, false
		}
		uri = "https://" + match
	}
	linkEnd := end
	if strings.ContainsRune(".,;:!?", rune(uri[len(uri)-1])) {
		uri, linkEnd = uri[:len(uri)-1], linkEnd-1
	}
	if strings.HasSuffix(uri, ")") && !strings.Contains(uri, "(") {
		uri, linkEnd = uri[:len(uri)-1], linkEnd-1
	}
	if u, err := url.Parse(uri); err != nil || u.Host == "" || !utf8.ValidString(uri) || linkEnd <= start {
		return Facet{}, end, false
	}
	return Facet{Start: start, End: linkEnd, URI: uri}, end, true
}

// nonSpace is the length of the run of characters other than white space
// at the start of s.
func nonSpace(s string) int {
	for i, r := range s {
		if unicode.IsSpace(r) {
			return i
		}
	}
	return len(s)
}

// bareDomain is the length of the domain the app's pattern
// [a-z][a-z0-9]*(\.[a-z0-9]+)+ (any case) matches at the start of s, or 0.
func bareDomain(s string) int {
	alnum := func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' }
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return 0
	}
	i := 1
	for i < len(s) && alnum(s[i]) {
		i++
	}
	labels := 0
	for i+1 < len(s) && s[i] == '.' && alnum(s[i+1]) {
		i += 2
		for i < len(s) && alnum(s[i]) {
			i++
		}
		labels++
	}
	if labels == 0 {
		return 0
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// topLevel holds the top-level domains that make a bare domain a link:
// every country code, and the generic ones in common use.
var topLevel = func() map[string]bool {
	m := map[string]bool{}
	for _, tld := range strings.Fields(countryCodes + " " + genericDomains) {
		m[tld] = true
	}
	return m
}()

const countryCodes = `ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj
bm bn bo br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do
dz ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk
hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li
lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng
ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg
sh si sj sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug
uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw`

const genericDomains = `com net org edu gov mil int info biz name pro aero asia cat coop jobs mobi
museum tel travel post xxx app dev page blog online site shop store tech news club live art cloud
email link top social space website world xyz network photo photos photography garden farm earth
energy solar city community digital tools zone group design studio media one wiki fyi lol codes
science systems technology software run foundation family house home io ai gg moe ninja rocks
today life fun games guru xn--p1ai`
