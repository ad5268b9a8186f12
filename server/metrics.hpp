// A small Prometheus metrics registry: counters, gauges and histograms with
// fixed buckets, optionally with labels, exposed in the Prometheus text format
// 0.0.4 (# HELP / # TYPE, one sample per line). Every name starts with
// "srcgate_".
//
// Ownership: one MetricsRegistry per process, created at start-up and shared
// (std::shared_ptr) by the server and whatever else reports metrics. The
// Counter/Gauge/Histogram/Family references it hands out stay valid as long as
// the registry lives; callers keep them and update them directly.
//
// Thread-safety: everything is safe to call from any thread. Updates on the hot
// path (Counter::inc, Gauge::set/add, Histogram::observe) are lock-free relaxed
// atomics; counters are sharded per thread so that concurrent increments do not
// share a cache line. Family::with() takes a shared (reader) lock and does a map
// lookup without allocating when the child exists; resolve the children you use
// on every request once and keep the references. Registration and expose() take
// a mutex. A scrape sees each value atomically, not a snapshot across values.
//
// Registration errors (a bad or duplicate name, bad label names or buckets) are
// programming errors found at start-up: they throw std::invalid_argument.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace srcgate::server {

// A monotonically increasing integer (requests, bytes). Name must end in "_total".
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept;
  std::uint64_t value() const noexcept;

 private:
  static constexpr std::size_t kShards = 8;
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> v{0};
  };
  std::array<Shard, kShards> shards_;
};

// A value that goes up and down (open connections, bytes on disk).
class Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  void sub(double d) noexcept { v_.fetch_sub(d, std::memory_order_relaxed); }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

// Observations counted into fixed buckets (upper bounds, inclusive) plus +Inf,
// with their sum. REQUIRES (checked at registration): bounds finite, strictly
// increasing, at least one.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void observe(double v) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot snapshot() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

// Request-latency buckets in seconds, 0.5 ms to 60 s.
inline constexpr std::array<double, 15> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};

namespace detail {
// Orders label-value vectors, and compares them with a list of string_views, so
// that Family::with() looks children up without allocating.
struct LabelValuesLess {
  using is_transparent = void;
  bool operator()(std::span<const std::string> a, std::span<const std::string> b) const;
  bool operator()(std::span<const std::string> a, std::span<const std::string_view> b) const;
  bool operator()(std::span<const std::string_view> a, std::span<const std::string> b) const;
};

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual std::string_view type() const = 0;
  // Appends the family's samples (not its HELP/TYPE lines) to `out`.
  virtual void write_samples(std::string& out) const = 0;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};
}  // namespace detail

// All the metrics of one name, one child per combination of label values.
template <class Metric>
class Family final : public detail::FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  // The child for `values` (one per label name, in order), created on first use.
  // REQUIRES: values.size() == label_names().size() (else std::invalid_argument).
  Metric& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Metric& with(std::span<const std::string_view> values);

  std::string_view type() const override;
  void write_samples(std::string& out) const override;

  // For histograms: the bucket bounds every child gets. Set once at registration.
  void set_bounds(std::vector<double> bounds) { bounds_ = std::move(bounds); }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>, detail::LabelValuesLess> children_;
  std::vector<double> bounds_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, start with
  // "srcgate_" and be new; counters must end in "_total"; label names must
  // match [a-zA-Z_][a-zA-Z0-9_]*, not start with "__", and not be "le" for
  // histograms. Throws std::invalid_argument otherwise.
  CounterFamily& counter_family(std::string name, std::string help,
                                std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string name, std::string help,
                            std::vector<std::string> label_names);
  HistogramFamily& histogram_family(std::string name, std::string help,
                                    std::vector<std::string> label_names,
                                    std::span<const double> bounds);
  // Shorthands for a family without labels; return its only child.
  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::span<const double> bounds);
  // A gauge whose value `read` computes at every scrape (store sizes and the
  // like). `read` runs on the scraping thread under the registry's mutex; it
  // must be thread-safe, fast and must not touch the registry.
  void gauge_callback(std::string name, std::string help, std::function<double()> read);

  // The text exposition format 0.0.4 of every family, in registration order;
  // children sorted by label values. Content-Type: kMetricsContentType.
  std::string expose() const;

 private:
  void add(std::unique_ptr<detail::FamilyBase> family, bool histogram);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<detail::FamilyBase>> families_;
};

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Formats a sample value as Prometheus expects: integers without exponent or
// fraction, other values in the shortest form that reads back exactly, and
// "+Inf", "-Inf", "NaN".
std::string format_metric_value(double v);

}  // namespace srcgate::server
