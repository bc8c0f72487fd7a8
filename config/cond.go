package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// A Condition is an alert's "when" expression, such as
//
//	room.Temperature > 30
//	room.CO2 >= 1200 or office.CO2 >= 1200
//	(room.Humidity < 30 and room.Temperature > 24) or cpu.Temperature > 80
//
// Comparisons are > >= < <= == !=; each side is a number or a reading named
// sensor.Quantity. "and" binds tighter than "or"; parentheses group. A
// comparison with a reading that is not available is false.
type Condition struct {
	src  string
	root condNode
}

// A Ref names one reading: a sensor and one of its quantities.
type Ref struct{ Sensor, Quantity string }

func (r Ref) String() string { return r.Sensor + "." + r.Quantity }

type condNode interface {
	eval(lookup func(Ref) (float64, bool)) bool
}

type condAnd struct{ l, r condNode }
type condOr struct{ l, r condNode }
type condCmp struct {
	op   string
	l, r operand
}

type operand struct {
	ref   Ref
	isRef bool
	num   float64
}

func (n condAnd) eval(f func(Ref) (float64, bool)) bool { return n.l.eval(f) && n.r.eval(f) }
func (n condOr) eval(f func(Ref) (float64, bool)) bool  { return n.l.eval(f) || n.r.eval(f) }

func (o operand) value(f func(Ref) (float64, bool)) (float64, bool) {
	if !o.isRef {
		return o.num, true
	}
	v, ok := f(o.ref)
	return v, ok && !math.IsNaN(v)
}

func (n condCmp) eval(f func(Ref) (float64, bool)) bool {
	a, ok := n.l.value(f)
	if !ok {
		return false
	}
	b, ok := n.r.value(f)
	if !ok {
		return false
	}
	switch n.op {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	return false
}

// ParseCondition parses an alert condition. It checks the syntax only;
// Config validation checks that the sensors and quantities exist.
func ParseCondition(s string) (*Condition, error) {
	toks, err := lexCondition(s)
	if err != nil {
		return nil, err
	}
	p := &condParser{src: s, toks: toks}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "expected \"and\", \"or\" or the end")
	}
	return &Condition{src: s, root: root}, nil
}

// String returns the condition as written.
func (c *Condition) String() string { return c.src }

// Eval evaluates the condition against the latest readings (sensor name to
// quantity to value). A missing or NaN reading makes its comparison false.
func (c *Condition) Eval(readings map[string]map[string]float64) bool {
	return c.root.eval(func(r Ref) (float64, bool) {
		v, ok := readings[r.Sensor][r.Quantity]
		return v, ok
	})
}

// Refs lists the readings the condition uses, in order of appearance,
// without repeats.
func (c *Condition) Refs() []Ref {
	var refs []Ref
	seen := map[Ref]bool{}
	var walk func(n condNode)
	add := func(o operand) {
		if o.isRef && !seen[o.ref] {
			seen[o.ref] = true
			refs = append(refs, o.ref)
		}
	}
	walk = func(n condNode) {
		switch n := n.(type) {
		case condAnd:
			walk(n.l)
			walk(n.r)
		case condOr:
			walk(n.l)
			walk(n.r)
		case condCmp:
			add(n.l)
			add(n.r)
		}
	}
	walk(c.root)
	return refs
}

// Sensors lists the names of the sensors the condition reads.
func (c *Condition) Sensors() []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range c.Refs() {
		if !seen[r.Sensor] {
			seen[r.Sensor] = true
			names = append(names, r.Sensor)
		}
	}
	return names
}

// Lexer.

type tokKind int

const (
	tokEOF tokKind = iota
	tokNumber
	tokRef
	tokOp
	tokAnd
	tokOr
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the source
}

func lexCondition(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case strings.ContainsRune("<>=!", rune(c)):
			op := string(c)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			if op == "=" || op == "!" {
				return nil, fmt.Errorf("config: condition %q: unknown operator %q at column %d; use one of > >= < <= == !=", s, op, i+1)
			}
			toks = append(toks, token{tokOp, op, i})
			i += len(op)
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			toks = append(toks, token{tokNumber, s[i:j], i})
			i = j
		case c == '_' || c < 0x80 && unicode.IsLetter(rune(c)):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || s[j] < 0x80 && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])))) {
				j++
			}
			word := s[i:j]
			switch word {
			case "and":
				toks = append(toks, token{tokAnd, word, i})
			case "or":
				toks = append(toks, token{tokOr, word, i})
			default:
				toks = append(toks, token{tokRef, word, i})
			}
			i = j
		case c == '&' && strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
		case c == '|' && strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{tokOr, "||", i})
			i += 2
		default:
			r := []rune(s[i:])[0]
			return nil, fmt.Errorf("config: condition %q: unexpected %q at column %d", s, r, i+1)
		}
	}
	toks = append(toks, token{tokEOF, "", len(s)})
	return toks, nil
}

// Parser: or := and ("or" and)*; and := term ("and" term)*;
// term := "(" or ")" | operand op operand.

type condParser struct {
	src  string
	toks []token
	i    int
	deep int
}

func (p *condParser) peek() token { return p.toks[p.i] }
func (p *condParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *condParser) errorf(t token, format string, a ...any) error {
	what := fmt.Sprintf("%q", t.text)
	if t.kind == tokEOF {
		what = "the end"
	}
	return fmt.Errorf("config: condition %q: %s at column %d: %s", p.src, what, t.pos+1, fmt.Sprintf(format, a...))
}

func (p *condParser) or() (condNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOr {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = condOr{l, r}
	}
	return l, nil
}

func (p *condParser) and() (condNode, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokAnd {
		p.next()
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = condAnd{l, r}
	}
	return l, nil
}

// maxCondDepth bounds nested parentheses.
const maxCondDepth = 32

func (p *condParser) term() (condNode, error) {
	if p.peek().kind == tokLParen {
		open := p.next()
		p.deep++
		if p.deep > maxCondDepth {
			return nil, p.errorf(open, "parentheses nest too deep")
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tokRParen {
			return nil, p.errorf(t, "expected \")\" to close the \"(\" at column %d", open.pos+1)
		}
		p.deep--
		return n, nil
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != tokOp {
		return nil, p.errorf(op, "expected a comparison (> >= < <= == !=)")
	}
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	if !l.isRef && !r.isRef {
		return nil, p.errorf(op, "compares two numbers; one side must be a reading such as room.Temperature")
	}
	return condCmp{op.text, l, r}, nil
}

func (p *condParser) operand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tokNumber:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return operand{}, p.errorf(t, "not a number")
		}
		return operand{num: v}, nil
	case tokRef:
		sensor, quantity, ok := strings.Cut(t.text, ".")
		if !ok || sensor == "" || quantity == "" || strings.Contains(quantity, ".") {
			return operand{}, p.errorf(t, "expected sensor.Quantity, such as room.Temperature")
		}
		return operand{ref: Ref{sensor, quantity}, isRef: true}, nil
	}
	return operand{}, p.errorf(t, "expected a number or sensor.Quantity")
}
