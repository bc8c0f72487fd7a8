package textlen

import "golang.org/x/text/unicode/norm"

// URLs returns the URLs in s that X links (and counts as 23 characters),
// in order: http:// and https:// addresses, and bare domains such as
// example.com or example.co.uk/path. X prices a post with such a link
// higher than one without.
func URLs(s string) []string {
	var urls []string
	for _, seg := range segmentText(norm.NFC.String(s)) {
		if seg.weight == weightURL {
			urls = append(urls, seg.text)
		}
	}
	return urls
}
