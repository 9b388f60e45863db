package loop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/fusionize/fusionize/fuser/cost"
)

// PricesFile is a price list read from a JSON file (cost.ParsePrices: the
// defaults, overridden by what the file sets) and re-read when its content
// changes. Prices are the user's input, not a measurement: a watching loop
// re-plans as soon as they change.
type PricesFile struct {
	path   string
	data   []byte
	prices cost.Prices
}

// LoadPrices reads the price list in path.
func LoadPrices(path string) (*PricesFile, error) {
	f := &PricesFile{path: path}
	data, p, err := f.read()
	if err != nil {
		return nil, err
	}
	f.data, f.prices = data, p
	return f, nil
}

// Path is the file's path.
func (f *PricesFile) Path() string { return f.path }

// Prices returns the prices last read successfully.
func (f *PricesFile) Prices() cost.Prices { return f.prices }

// Reload re-reads the file. When its prices changed it keeps them and says
// what changed ("gcp.perGiBSecond 2.5e-06 → 1.25e-05 (×5)"); when the file
// did not change it returns "". A file that cannot be read or parsed is an
// error naming it, and the prices read before stay.
func (f *PricesFile) Reload() (change string, err error) {
	data, p, err := f.read()
	if err != nil {
		return "", err
	}
	if bytes.Equal(data, f.data) {
		return "", nil
	}
	change = DiffPrices(f.prices, p)
	f.data, f.prices = data, p
	return change, nil
}

func (f *PricesFile) read() ([]byte, cost.Prices, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, cost.Prices{}, fmt.Errorf("prices file %s: %w", f.path, err)
	}
	p, err := cost.ParsePrices(data)
	if err != nil {
		return nil, cost.Prices{}, fmt.Errorf("prices file %s: %w", f.path, err)
	}
	return data, p, nil
}

// DiffPrices says which prices differ between old and new, one
// "field old → new (×ratio)" per price, by JSON field name, sorted; "" when
// none do.
func DiffPrices(old, new cost.Prices) string {
	a, errA := flatten(old)
	b, errB := flatten(new)
	if errA != nil || errB != nil {
		return "the price list" // a struct of numbers always marshals
	}
	var out []string
	for k, v := range b {
		w, ok := a[k]
		if ok && w == v {
			continue
		}
		s := fmt.Sprintf("%s %s → %s", k, w, v)
		var x, y float64
		if _, err := fmt.Sscan(w, &x); err == nil {
			if _, err := fmt.Sscan(v, &y); err == nil && x != 0 && !math.IsInf(y/x, 0) {
				s += fmt.Sprintf(" (×%.3g)", y/x)
			}
		}
		out = append(out, s)
	}
	for k, w := range a {
		if _, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("%s %s → none", k, w))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// flatten maps each leaf of p's JSON form to its text ("gcp.vcpu.3.vcpu").
func flatten(p cost.Prices) (map[string]string, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(join(prefix, k), e)
			}
		case []any:
			for i, e := range x {
				walk(join(prefix, fmt.Sprint(i)), e)
			}
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", v)
	return out, nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
