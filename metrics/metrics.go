// Package metrics defines every Prometheus metric ipsd exports. It holds no
// logic: other packages record through the fields of a Set.
//
// This package exists for ipsd; its API may change without notice.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Result label values besides "ok": one per IPS fault family, plus "busy".
const (
	ResultOK             = "ok"
	ResultAuthentication = "authentication"
	ResultAuthorization  = "authorization"
	ResultInvalid        = "invalid_parameter"
	ResultMissing        = "missing_parameter"
	ResultBadXML         = "invalid_xml"
	ResultFailed         = "failed"
	ResultBusy           = "busy"
	// ResultInterrupted is a watch-folder request cut off by shutdown: it
	// stays claimed and runs again at the next start.
	ResultInterrupted = "interrupted"
)

// Results lists every value of the result label of ipsd_requests_total.
var Results = []string{
	ResultOK, ResultAuthentication, ResultAuthorization, ResultInvalid, ResultMissing,
	ResultBadXML, ResultFailed, ResultBusy, ResultInterrupted,
}

// Channels lists the values of the channel label.
var Channels = []string{"socket", "watch"}

// Render stages, the values of the stage label of
// ipsd_render_stage_duration_seconds.
const (
	StageDecode    = "decode"
	StageTransform = "transform"
	StageEncode    = "encode"
	StageWrite     = "write"
)

// Stages lists every render stage.
var Stages = []string{StageDecode, StageTransform, StageEncode, StageWrite}

// Sources lists the values of the source label of the watch metrics: the
// tree (catalog sync) and the watch folders (request intake).
var Sources = []string{"tree", "watch"}

// Reload results, the values of the result label of
// ipsd_config_reloads_total.
const (
	ReloadOK    = "ok"
	ReloadError = "error"
)

// Set holds every ipsd metric. The zero value is not usable; call New.
// All fields are safe for concurrent use.
type Set struct {
	Registry *prometheus.Registry

	Requests        *prometheus.CounterVec   // channel, result
	RequestDuration *prometheus.HistogramVec // channel
	QueueWait       *prometheus.HistogramVec // channel
	StageDuration   *prometheus.HistogramVec // stage: decode, transform, encode, write
	BytesRead       prometheus.Counter
	BytesWritten    prometheus.Counter
	InFlight        prometheus.Gauge
	Workers         prometheus.Gauge
	QueueDepth      *prometheus.GaugeVec // folder: a configured watch dir
	OldestPending   *prometheus.GaugeVec // folder: a configured watch dir

	CatalogAssets    prometheus.Gauge
	CatalogFolders   prometheus.Gauge
	CatalogCompanies prometheus.Gauge
	NameClashes      prometheus.Gauge

	WatchEvents    *prometheus.CounterVec // source: tree, watch
	WatchOverflows *prometheus.CounterVec // source
	Rescans        *prometheus.CounterVec // source, reason
	PollFallbacks  *prometheus.CounterVec // source

	ConfigReloads *prometheus.CounterVec // result: ok, error
	BuildInfo     *prometheus.GaugeVec
}

// New creates the metrics and registers them, together with the Go and
// process collectors, on a private registry.
func New(version string) *Set {
	reg := prometheus.NewRegistry()
	durBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	s := &Set{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "requests_total",
			Help: "copyImage and other API requests, by channel (socket, watch) and result (ok or fault family).",
		}, []string{"channel", "result"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ipsd", Name: "request_duration_seconds",
			Help:    "Time from accepting a request to its answer, by channel.",
			Buckets: durBuckets,
		}, []string{"channel"}),
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ipsd", Name: "queue_wait_seconds",
			Help:    "Time a request waited for a render worker, by channel.",
			Buckets: durBuckets,
		}, []string{"channel"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ipsd", Name: "render_stage_duration_seconds",
			Help:    "Time spent per render stage (decode, transform, encode, write).",
			Buckets: durBuckets,
		}, []string{"stage"}),
		BytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "read_bytes_total", Help: "Bytes of source images read (or cloned, for a copy without modifier).",
		}),
		BytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "written_bytes_total", Help: "Bytes of new images written into the tree.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "requests_in_flight", Help: "Copies being rendered or written now.",
		}),
		Workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "render_workers", Help: "Configured number of parallel renders.",
		}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "watch_queue_depth", Help: "Request files waiting in a watch folder.",
		}, []string{"folder"}),
		OldestPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "watch_oldest_pending_age_seconds",
			Help: "Age of the oldest request file waiting in a watch folder.",
		}, []string{"folder"}),
		CatalogAssets: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "catalog_assets", Help: "Assets in the catalog.",
		}),
		CatalogFolders: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "catalog_folders", Help: "Folders in the catalog.",
		}),
		CatalogCompanies: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "catalog_companies", Help: "Companies in the catalog.",
		}),
		NameClashes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "catalog_name_clashes",
			Help: "Asset names used by more than one file in a company, found in the tree.",
		}),
		WatchEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "watch_events_total",
			Help: "Filesystem events received, by source (tree or watch folder).",
		}, []string{"source"}),
		WatchOverflows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "watch_overflows_total", Help: "inotify queue overflows, by source.",
		}, []string{"source"}),
		Rescans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "rescans_total", Help: "Full rescans, by source and reason.",
		}, []string{"source", "reason"}),
		PollFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "watch_poll_fallbacks_total",
			Help: "Subtrees that fell back from inotify to polling, by source.",
		}, []string{"source"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ipsd", Name: "config_reloads_total", Help: "Config reloads on SIGHUP, by result.",
		}, []string{"result"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ipsd", Name: "build_info", Help: "Always 1; labels describe the build.",
		}, []string{"version", "goversion"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.Requests, s.RequestDuration, s.QueueWait, s.StageDuration,
		s.BytesRead, s.BytesWritten, s.InFlight, s.Workers, s.QueueDepth, s.OldestPending,
		s.CatalogAssets, s.CatalogFolders, s.CatalogCompanies, s.NameClashes,
		s.WatchEvents, s.WatchOverflows, s.Rescans, s.PollFallbacks,
		s.ConfigReloads, s.BuildInfo,
	)
	s.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	// every known label combination exists from the start, at zero, so that
	// rate() and alerts see a series before its first event
	for _, ch := range Channels {
		for _, r := range Results {
			s.Requests.WithLabelValues(ch, r)
		}
		s.RequestDuration.WithLabelValues(ch)
		s.QueueWait.WithLabelValues(ch)
	}
	for _, st := range Stages {
		s.StageDuration.WithLabelValues(st)
	}
	for _, src := range Sources {
		s.WatchEvents.WithLabelValues(src)
		s.WatchOverflows.WithLabelValues(src)
		s.PollFallbacks.WithLabelValues(src)
	}
	s.ConfigReloads.WithLabelValues(ReloadOK)
	s.ConfigReloads.WithLabelValues(ReloadError)
	return s
}
