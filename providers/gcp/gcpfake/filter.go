package gcpfake

import (
	"fmt"
	"strings"
)

// The subset of the GCE list filter syntax (AIP-160 style) the fake
// understands: comparisons `field = "v"`, `field != "v"`, `field:*` (has)
// and `field:"v"`, parentheses, explicit AND / OR and implicit AND by
// juxtaposition, NOT. As in AIP-160, OR binds tighter than AND. Fields:
// name, status, description, sourceDisk, sourceSnapshot, labels.<key>.

type filterExpr interface {
	eval(get func(field string) (string, bool)) bool
}

type andExpr []filterExpr
type orExpr []filterExpr
type notExpr struct{ e filterExpr }
type cmpExpr struct{ field, op, value string }

func (a andExpr) eval(g func(string) (string, bool)) bool {
	for _, e := range a {
		if !e.eval(g) {
			return false
		}
	}
	return true
}

func (o orExpr) eval(g func(string) (string, bool)) bool {
	for _, e := range o {
		if e.eval(g) {
			return true
		}
	}
	return false
}

func (n notExpr) eval(g func(string) (string, bool)) bool { return !n.e.eval(g) }

func (c cmpExpr) eval(g func(string) (string, bool)) bool {
	v, ok := g(c.field)
	switch c.op {
	case "=":
		return ok && v == c.value
	case "!=":
		return !ok || v != c.value
	case ":":
		if c.value == "*" {
			return ok
		}
		return ok && v == c.value
	}
	return false
}

type token struct {
	kind string // "(", ")", "op", "str", "word"
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			out = append(out, token{kind: string(c)})
			i++
		case c == '=' || c == ':':
			out = append(out, token{kind: "op", text: string(c)})
			i++
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, token{kind: "op", text: "!="})
			i += 2
		case c == '"' || c == '\'':
			q := c
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != q; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, token{kind: "str", text: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()=:!\"'", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			out = append(out, token{kind: "word", text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func parseFilter(s string) (filterExpr, error) {
	if strings.TrimSpace(s) == "" {
		return andExpr{}, nil
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.seq()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].kind+p.toks[p.pos].text)
	}
	return e, nil
}

func (p *parser) seq() (filterExpr, error) {
	var out andExpr
	for {
		t := p.peek()
		if t == nil || t.kind == ")" {
			break
		}
		if t.kind == "word" && t.text == "AND" {
			p.pos++
			continue
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty expression")
	}
	return out, nil
}

func (p *parser) or() (filterExpr, error) {
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	out := orExpr{first}
	for {
		t := p.peek()
		if t == nil || t.kind != "word" || t.text != "OR" {
			break
		}
		p.pos++
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 1 {
		return first, nil
	}
	return out, nil
}

func (p *parser) term() (filterExpr, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("unexpected end of filter")
	}
	switch {
	case t.kind == "(":
		p.pos++
		e, err := p.seq()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c == nil || c.kind != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return e, nil
	case t.kind == "word" && t.text == "NOT":
		p.pos++
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	case t.kind == "word":
		p.pos++
		op := p.peek()
		if op == nil || op.kind != "op" {
			return nil, fmt.Errorf("expected operator after %s", t.text)
		}
		p.pos++
		v := p.peek()
		if v == nil || (v.kind != "str" && v.kind != "word") {
			return nil, fmt.Errorf("expected value after %s %s", t.text, op.text)
		}
		p.pos++
		return cmpExpr{field: t.text, op: op.text, value: v.text}, nil
	}
	return nil, fmt.Errorf("unexpected %q", t.kind+t.text)
}
