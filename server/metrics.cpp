#include "server/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace srcgate::server {
namespace {

// Each thread adds to one shard of every counter; shards are handed out round
// robin as threads first touch a counter, so N io threads use N distinct lines.
std::size_t shard_index(std::size_t shards) {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index % shards;
}

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape '"'.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

// Appends `name{a="x",b="y"[,le="..."]} value\n`.
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& label_names,
                   std::span<const std::string> label_values, std::string_view le,
                   std::string_view value) {
  out += name;
  out += suffix;
  if (!label_names.empty() || !le.empty()) {
    out += '{';
    bool first = true;
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (!first) out += ',';
      first = false;
      out += label_names[i];
      out += "=\"";
      append_escaped(out, label_values[i], true);
      out += '"';
    }
    if (!le.empty()) {
      if (!first) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

template <class A, class B>
bool lexicographic_less(std::span<const A> a, std::span<const B> b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(),
      [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
}

void check_labels(const std::string& metric, const std::vector<std::string>& labels,
                  bool histogram) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!valid_label_name(labels[i]) || (histogram && labels[i] == "le")) {
      throw std::invalid_argument("metrics: " + metric + ": invalid label name '" + labels[i] +
                                  "'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[i] == labels[j]) {
        throw std::invalid_argument("metrics: " + metric + ": duplicate label '" + labels[i] + "'");
      }
    }
  }
}

void check_bounds(const std::string& metric, std::span<const double> bounds) {
  if (bounds.empty()) throw std::invalid_argument("metrics: " + metric + ": no buckets");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      throw std::invalid_argument("metrics: " + metric +
                                  ": bucket bounds must be finite and strictly increasing");
    }
  }
}

// A gauge computed by a callback at scrape time.
class CallbackGauge final : public detail::FamilyBase {
 public:
  CallbackGauge(std::string name, std::string help, std::function<double()> read)
      : FamilyBase(std::move(name), std::move(help), {}), read_(std::move(read)) {}
  std::string_view type() const override { return "gauge"; }
  void write_samples(std::string& out) const override {
    append_sample(out, name(), "", {}, {}, "", format_metric_value(read_()));
  }

 private:
  std::function<double()> read_;
};

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

void Counter::inc(std::uint64_t n) noexcept {
  shards_[shard_index(kShards)].v.fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t Counter::value() const noexcept {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s.v.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  // First bound >= v; NaN falls through to +Inf.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace detail {
bool LabelValuesLess::operator()(std::span<const std::string> a,
                                 std::span<const std::string> b) const {
  return lexicographic_less(a, b);
}
bool LabelValuesLess::operator()(std::span<const std::string> a,
                                 std::span<const std::string_view> b) const {
  return lexicographic_less(a, b);
}
bool LabelValuesLess::operator()(std::span<const std::string_view> a,
                                 std::span<const std::string> b) const {
  return lexicographic_less(a, b);
}
}  // namespace detail

template <class Metric>
Metric& Family<Metric>::with(std::span<const std::string_view> values) {
  if (values.size() != label_names().size()) {
    throw std::invalid_argument("metrics: " + name() + ": expected " +
                                std::to_string(label_names().size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  {
    std::shared_lock lock(mu_);
    const auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  const auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<Metric> child;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    child = std::make_unique<Histogram>(bounds_);
  } else {
    child = std::make_unique<Metric>();
  }
  Metric& ref = *child;
  children_.emplace(std::vector<std::string>(values.begin(), values.end()), std::move(child));
  return ref;
}

template <class Metric>
std::string_view Family<Metric>::type() const {
  if constexpr (std::is_same_v<Metric, Counter>) return "counter";
  if constexpr (std::is_same_v<Metric, Gauge>) return "gauge";
  if constexpr (std::is_same_v<Metric, Histogram>) return "histogram";
}

template <class Metric>
void Family<Metric>::write_samples(std::string& out) const {
  std::shared_lock lock(mu_);
  for (const auto& [values, m] : children_) {
    if constexpr (std::is_same_v<Metric, Counter>) {
      append_sample(out, name(), "", label_names(), values, "", std::to_string(m->value()));
    } else if constexpr (std::is_same_v<Metric, Gauge>) {
      append_sample(out, name(), "", label_names(), values, "", format_metric_value(m->value()));
    } else {
      const Histogram::Snapshot s = m->snapshot();
      const auto bounds = m->bounds();
      for (std::size_t i = 0; i < bounds.size(); ++i) {
        append_sample(out, name(), "_bucket", label_names(), values, format_metric_value(bounds[i]),
                      std::to_string(s.cumulative[i]));
      }
      append_sample(out, name(), "_bucket", label_names(), values, "+Inf",
                    std::to_string(s.cumulative.back()));
      append_sample(out, name(), "_sum", label_names(), values, "", format_metric_value(s.sum));
      append_sample(out, name(), "_count", label_names(), values, "",
                    std::to_string(s.cumulative.back()));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void MetricsRegistry::add(std::unique_ptr<detail::FamilyBase> family, bool histogram) {
  const std::string& name = family->name();
  if (!valid_metric_name(name) || !name.starts_with("srcgate_")) {
    throw std::invalid_argument("metrics: invalid name '" + name +
                                "' (must match [a-zA-Z_:][a-zA-Z0-9_:]* and start with srcgate_)");
  }
  check_labels(name, family->label_names(), histogram);
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == name) throw std::invalid_argument("metrics: '" + name + "' registered twice");
  }
  families_.push_back(std::move(family));
}

CounterFamily& MetricsRegistry::counter_family(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  if (!name.ends_with("_total")) {
    throw std::invalid_argument("metrics: counter '" + name + "' must end in _total");
  }
  auto family =
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names));
  CounterFamily& ref = *family;
  add(std::move(family), false);
  return ref;
}

GaugeFamily& MetricsRegistry::gauge_family(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  auto family =
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names));
  GaugeFamily& ref = *family;
  add(std::move(family), false);
  return ref;
}

HistogramFamily& MetricsRegistry::histogram_family(std::string name, std::string help,
                                                   std::vector<std::string> label_names,
                                                   std::span<const double> bounds) {
  check_bounds(name, bounds);
  auto family =
      std::make_unique<HistogramFamily>(std::move(name), std::move(help), std::move(label_names));
  family->set_bounds(std::vector<double>(bounds.begin(), bounds.end()));
  HistogramFamily& ref = *family;
  add(std::move(family), true);
  return ref;
}

Counter& MetricsRegistry::counter(std::string name, std::string help) {
  return counter_family(std::move(name), std::move(help), {}).with({});
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help) {
  return gauge_family(std::move(name), std::move(help), {}).with({});
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::span<const double> bounds) {
  return histogram_family(std::move(name), std::move(help), {}, bounds).with({});
}

void MetricsRegistry::gauge_callback(std::string name, std::string help,
                                     std::function<double()> read) {
  add(std::make_unique<CallbackGauge>(std::move(name), std::move(help), std::move(read)), false);
}

std::string MetricsRegistry::expose() const {
  std::string out;
  out.reserve(4096);
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name();
    out += ' ';
    append_escaped(out, f->help(), false);
    out += "\n# TYPE ";
    out += f->name();
    out += ' ';
    out += f->type();
    out += '\n';
    f->write_samples(out);
  }
  return out;
}

}  // namespace srcgate::server
