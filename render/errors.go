package render

import "fmt"

// A CommandError reports an unknown, unsupported or invalid command in a
// modifier string. Command is the command name as written (or "" for a
// syntax error that belongs to no command), Value the decoded value.
type CommandError struct {
	Command string
	Value   string
	Reason  string
}

func (e *CommandError) Error() string {
	switch {
	case e.Command == "":
		return e.Reason
	case e.Reason == reasonUnknown:
		return fmt.Sprintf("unknown command '%s'", e.Command)
	case e.Reason == reasonUnsupported || e.Reason == reasonNotYet:
		return fmt.Sprintf("command '%s' is %s", e.Command, e.Reason)
	default:
		return fmt.Sprintf("invalid value '%s' for command '%s': %s", e.Value, e.Command, e.Reason)
	}
}

const (
	reasonUnknown     = "unknown command"
	reasonUnsupported = "not supported by ipsd"
	reasonNotYet      = "not supported by ipsd yet"
)

// A LimitError reports a source or output image over one of the configured
// limits (or over a hard limit of an output format). Nothing has been
// allocated for the pixels when it is returned.
type LimitError struct {
	Limit         string // "max_source_pixels", "max_output_pixels", "webp maximum side", ...
	What          string // "source image", "output image", "scaled image"
	Width, Height int64
	Max           int64 // the limit: a pixel count, or a side length for side limits (webp, hard)
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case limitWebPSide:
		return fmt.Sprintf("%s %dx%d exceeds the %s of %d pixels", e.What, e.Width, e.Height, e.Limit, e.Max)
	case limitHard:
		return fmt.Sprintf("%s %dx%d has a side or an offset beyond %s of %d pixels", e.What, e.Width, e.Height, e.Limit, e.Max)
	}
	return fmt.Sprintf("%s %dx%d (%d pixels) exceeds %s %d",
		e.What, e.Width, e.Height, e.Width*e.Height, e.Limit, e.Max)
}

const (
	limitSource   = "max_source_pixels"
	limitOutput   = "max_output_pixels"
	limitWebPSide = "webp maximum side"
	limitHard     = "the internal limit"

	webpMaxSide = 16383
)
