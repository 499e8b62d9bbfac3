package main

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// batchOptions bound a batch run.
type batchOptions struct {
	parallel int // requests in flight
	retries  int // retries of a busy request
	// backoff is the first wait after a busy fault; it doubles up to
	// maxBackoff, with jitter.
	backoff, maxBackoff time.Duration
	progress            bool // draw a progress bar on stderr
}

// batchItem is one request of a batch: a file or a CSV row.
type batchItem struct {
	label string
	body  []byte
}

// loadBatch reads the requests of a directory of *.xml files or a CSV file.
func loadBatch(src string) ([]batchItem, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		names, err := filepath.Glob(filepath.Join(src, "*.xml"))
		if err != nil {
			return nil, err
		}
		slices.Sort(names)
		var items []batchItem
		for _, n := range names {
			if strings.HasPrefix(filepath.Base(n), ".") {
				continue
			}
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			items = append(items, batchItem{label: filepath.Base(n), body: b})
		}
		return items, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	var items []batchItem
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src, err)
		}
		// the line in the file, which counts comments and blank lines
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if first && strings.EqualFold(rec[0], "company") {
			continue // header
		}
		if len(rec) < 4 || len(rec) > 5 {
			return nil, fmt.Errorf("%s line %d: want company,asset,folder,name[,modifier], got %d fields", src, line, len(rec))
		}
		req := copyRequest{Company: rec[0], Asset: rec[1], Folder: rec[2], Name: rec[3]}
		if len(rec) == 5 {
			req.Modifier = rec[4]
		}
		body, err := xml.Marshal(req)
		if err != nil {
			return nil, err
		}
		items = append(items, batchItem{label: fmt.Sprintf("line %d (%s)", line, req.Name), body: body})
	}
	return items, nil
}

// runBatch sends the requests of src with bounded concurrency and retries
// of busy faults; it prints a line per request and a summary, and fails
// when any request failed.
func runBatch(ctx context.Context, c *client, src string, o batchOptions, stdout, stderr io.Writer) error {
	if o.backoff == 0 {
		o.backoff, o.maxBackoff = 200*time.Millisecond, 10*time.Second
	}
	items, err := loadBatch(src)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return fmt.Errorf("no requests in %s", src)
	}
	bar := progressbar.NewOptions(len(items),
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(o.progress),
		progressbar.OptionSetDescription("copying"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)

	var mu sync.Mutex // guards the counters, the bar and the output
	var ok, failed, busyRetries int
	start := time.Now()
	work := make(chan batchItem)
	var wg sync.WaitGroup
	for range min(o.parallel, len(items)) {
		wg.Go(func() { // returns when work is closed
			for it := range work {
				h, tries, err := sendRetrying(ctx, c, it.body, o)
				mu.Lock()
				busyRetries += tries
				if err != nil {
					failed++
					bar.Clear()
					fmt.Fprintf(stderr, "ipsd copy: %s: %v\n", it.label, err)
				} else {
					ok++
					fmt.Fprintf(stdout, "%s\t%s\n", it.label, h)
				}
				bar.Add(1)
				mu.Unlock()
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	bar.Finish()
	fmt.Fprintf(stderr, "ipsd copy: %d requests: %d copied, %d failed, %d busy retries, in %v\n",
		len(items), ok, failed, busyRetries, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		return exitError(1)
	}
	return nil
}

// sendRetrying sends body, retrying busy faults with exponential backoff
// and jitter; it returns the handle and the number of retries.
func sendRetrying(ctx context.Context, c *client, body []byte, o batchOptions) (string, int, error) {
	wait := o.backoff
	for try := 0; ; try++ {
		h, err := c.send(ctx, body)
		if err == nil || !busy(err) || try == o.retries {
			return h, try, err
		}
		d := wait/2 + rand.N(wait/2+1) // jitter: half to all of wait
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", try, ctx.Err()
		}
		wait = min(2*wait, o.maxBackoff)
	}
}
