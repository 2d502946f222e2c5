// Bindings for column profiles and drift (strata/quality/profile.h, drift.h). Data arrives as
// Arrow C stream capsules; single arrays come as one-column streams (the Python side wraps them).
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <arrow/chunked_array.h>
#include <arrow/table.h>

#include "bind_util.h"
#include "strata/quality/drift.h"
#include "strata/quality/profile.h"

namespace strata_py {

namespace {

using namespace nb::literals;
namespace q = strata::quality;

nb::object ToPy(const q::ProfileValue& v, q::ColumnKind kind) {
  return std::visit(
      [&](const auto& x) -> nb::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nb::none();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (kind == q::ColumnKind::kBinary) return nb::bytes(x.data(), x.size());
          return nb::str(x.data(), x.size());
        } else {
          return nb::cast(x);
        }
      },
      v);
}

template <typename T>
nb::object Opt(const std::optional<T>& v) {
  return v ? nb::cast(*v) : nb::none();
}

nb::dict ColumnSummary(const q::ColumnProfile& c, int histogram_bins, size_t top_n, const std::vector<double>& quantiles) {
  nb::dict d;
  d["name"] = c.name();
  d["type"] = c.type();
  d["kind"] = q::ColumnKindName(c.kind());
  d["count"] = c.count();
  d["null_count"] = c.null_count();
  d["nan_count"] = c.nan_count();
  d["valid_count"] = c.valid_count();
  d["distinct"] = Opt(c.distinct());
  d["distinct_exact"] = c.distinct_exact();
  d["min"] = ToPy(c.min(), c.kind());
  d["max"] = ToPy(c.max(), c.kind());
  d["mean"] = Opt(c.mean());
  d["stdev"] = Opt(c.stdev());
  d["min_length"] = Opt(c.min_length());
  d["max_length"] = Opt(c.max_length());
  d["mean_length"] = Opt(c.mean_length());
  nb::dict qs;
  if (c.kll() && !c.kll()->empty()) {
    for (double p : quantiles) qs[nb::cast(p)] = *c.Quantile(p);
  }
  d["quantiles"] = qs;
  nb::list hist;
  if (histogram_bins > 0) {
    for (const auto& b : c.Histogram(histogram_bins)) hist.append(nb::make_tuple(b.lower, b.upper, b.count));
  }
  d["histogram"] = hist;
  nb::list top;
  for (const auto& tv : c.TopValues(top_n)) top.append(nb::make_tuple(ToPy(tv.value, c.kind()), tv.count));
  d["top_values"] = top;
  d["top_values_exact"] = c.top() ? nb::cast(c.top_values_exact()) : nb::none();
  d["top_values_max_error"] = c.top() ? nb::cast(c.top_values_max_error()) : nb::none();
  return d;
}

/// A profile held by Python (a value: merge returns a new one).
class PyProfile {
 public:
  explicit PyProfile(q::Profile p) : p_(std::move(p)) {}
  static PyProfile FromJson(const std::string& json) { return PyProfile(Unwrap(q::Profile::FromJson(json))); }

  int64_t num_rows() const { return p_.num_rows(); }
  std::optional<int64_t> table_version() const { return p_.table_version(); }
  std::vector<std::string> column_names() const {
    std::vector<std::string> out;
    for (const auto& c : p_.columns()) out.push_back(c.name());
    return out;
  }
  nb::list summary(int histogram_bins, size_t top_n, const std::vector<double>& quantiles) const {
    nb::list out;
    for (const auto& c : p_.columns()) out.append(ColumnSummary(c, histogram_bins, top_n, quantiles));
    return out;
  }
  std::string to_json(int histogram_bins, size_t top_n) const { return p_.ToJson(histogram_bins, top_n); }
  PyProfile merge(const PyProfile& other) const {
    q::Profile out = p_;
    {
      nb::gil_scoped_release release;
      Check(out.Merge(other.p_));
    }
    out.set_table_version(std::nullopt);
    return PyProfile(std::move(out));
  }
  PyProfile select(const std::vector<std::string>& columns) const { return PyProfile(Unwrap(p_.Select(columns))); }

 private:
  q::Profile p_;
};

q::ProfileOptions Options(std::vector<std::string> columns, int threads) {
  q::ProfileOptions o;
  o.columns = std::move(columns);
  o.threads = threads;
  return o;
}

PyProfile ProfileStream(nb::object capsule, std::vector<std::string> columns, int threads) {
  auto reader = ImportReader(std::move(capsule));
  auto options = Options(std::move(columns), threads);
  nb::gil_scoped_release release;
  return PyProfile(Unwrap(q::ProfileStream(*reader, options)));
}

std::pair<PyProfile, nb::dict> ProfileTable(const std::string& path, std::optional<int64_t> version,
                                            std::vector<std::string> columns, bool use_stored, bool store, int threads) {
  auto object_store = Store(path);
  q::TableProfileOptions o;
  o.profile = Options(std::move(columns), threads);
  o.use_stored = use_stored;
  o.store = store;
  q::TableProfile r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(q::ProfileTable(object_store, version, o));
  }
  nb::dict info;
  info["version"] = r.version;
  info["source"] = q::ProfileSourceName(r.source);
  info["base_version"] = Opt(r.base_version);
  info["files_scanned"] = r.files_scanned;
  info["rows_scanned"] = r.rows_scanned;
  return {PyProfile(std::move(r.profile)), info};
}

/// The first column of a one-column stream.
std::shared_ptr<arrow::ChunkedArray> Column(nb::object capsule) {
  auto reader = ImportReader(std::move(capsule));
  std::shared_ptr<arrow::Table> table;
  {
    nb::gil_scoped_release release;
    table = Unwrap(reader->ToTable());
  }
  if (table->num_columns() != 1) {
    Raise(strata::Error(strata::ErrorCode::kInvalidArgument, "expected one column, got ", table->num_columns()));
  }
  return table->column(0);
}

nb::dict BinsDict(const q::QuantileBins& b) {
  nb::dict d;
  d["edges"] = b.edges;
  d["reference_counts"] = b.reference;
  d["current_counts"] = b.current;
  d["reference_ignored"] = b.reference_ignored;
  d["current_ignored"] = b.current_ignored;
  return d;
}

nb::dict Psi(nb::object reference, nb::object current, int bins, double epsilon, int threads) {
  auto ref = Column(std::move(reference));
  auto cur = Column(std::move(current));
  q::PsiResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(q::Psi(*ref, *cur, bins, epsilon, threads));
  }
  nb::dict d = BinsDict(r.bins);
  d["psi"] = r.psi;
  return d;
}

nb::dict QuantileBins(nb::object reference, nb::object current, int bins, int threads) {
  auto ref = Column(std::move(reference));
  auto cur = Column(std::move(current));
  q::QuantileBins b;
  {
    nb::gil_scoped_release release;
    b = Unwrap(q::BinByReferenceQuantiles(*ref, *cur, bins, threads));
  }
  return BinsDict(b);
}

nb::dict Ks(nb::object reference, nb::object current, int threads) {
  auto ref = Column(std::move(reference));
  auto cur = Column(std::move(current));
  q::KsResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(q::KolmogorovSmirnov(*ref, *cur, threads));
  }
  nb::dict d;
  d["statistic"] = r.statistic;
  d["pvalue"] = r.pvalue;
  d["reference_count"] = r.reference_count;
  d["current_count"] = r.current_count;
  return d;
}

nb::dict Categories(nb::object reference, nb::object current) {
  auto ref = Column(std::move(reference));
  auto cur = Column(std::move(current));
  q::CategoryCounts c;
  {
    nb::gil_scoped_release release;
    c = Unwrap(q::CountCategories(*ref, *cur));
  }
  nb::dict d;
  d["categories"] = c.categories;
  d["reference_counts"] = c.reference;
  d["current_counts"] = c.current;
  d["reference_ignored"] = c.reference_ignored;
  d["current_ignored"] = c.current_ignored;
  return d;
}

void CheckCounts(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) {
    Raise(strata::Error(strata::ErrorCode::kInvalidArgument, "count vectors differ in length: ", a.size(), " and ",
                        b.size()));
  }
  int64_t sa = 0, sb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0 || b[i] < 0) Raise(strata::Error(strata::ErrorCode::kInvalidArgument, "counts must be >= 0"));
    sa += a[i];
    sb += b[i];
  }
  if (sa == 0 || sb == 0) {
    Raise(strata::Error(strata::ErrorCode::kInvalidArgument, "the ", sa == 0 ? "reference" : "current",
                        " counts are all zero"));
  }
}

std::string Drift(nb::object reference, nb::object current, std::vector<std::string> columns, int bins, double epsilon,
                  std::vector<std::string> metrics, double psi_threshold, double ks_pvalue_threshold,
                  double js_threshold, std::optional<double> chi2_pvalue_threshold, int threads) {
  auto ref = ImportReader(std::move(reference));
  auto cur = ImportReader(std::move(current));
  q::DriftOptions o;
  o.columns = std::move(columns);
  o.bins = bins;
  o.epsilon = epsilon;
  o.metrics = std::move(metrics);
  o.psi_threshold = psi_threshold;
  o.ks_pvalue_threshold = ks_pvalue_threshold;
  o.js_threshold = js_threshold;
  o.chi2_pvalue_threshold = chi2_pvalue_threshold;
  o.threads = threads;
  nb::gil_scoped_release release;
  return Unwrap(q::Drift(*ref, *cur, o)).ToJson();
}

}  // namespace

void BindProfile(nb::module_& m) {
  nb::class_<PyProfile>(m, "_Profile")
      .def_static("from_json", &PyProfile::FromJson, "json"_a)
      .def_prop_ro("num_rows", &PyProfile::num_rows)
      .def_prop_ro("table_version", &PyProfile::table_version)
      .def_prop_ro("column_names", &PyProfile::column_names)
      .def("summary", &PyProfile::summary, "histogram_bins"_a, "top_n"_a, "quantiles"_a)
      .def("to_json", &PyProfile::to_json, "histogram_bins"_a = 20, "top_n"_a = 10)
      .def("merge", &PyProfile::merge, "other"_a)
      .def("select", &PyProfile::select, "columns"_a);
  m.def("profile_stream", &ProfileStream, "stream"_a, "columns"_a, "threads"_a = 0);
  m.def("profile_table", &ProfileTable, "path"_a, "version"_a, "columns"_a, "use_stored"_a, "store"_a,
        "threads"_a = 0);
  m.def("psi", &Psi, "reference"_a, "current"_a, "bins"_a, "epsilon"_a, "threads"_a = 0);
  m.def("quantile_bins", &QuantileBins, "reference"_a, "current"_a, "bins"_a, "threads"_a = 0);
  m.def("ks", &Ks, "reference"_a, "current"_a, "threads"_a = 0);
  m.def("category_counts", &Categories, "reference"_a, "current"_a);
  m.def(
      "psi_from_counts",
      [](const std::vector<int64_t>& r, const std::vector<int64_t>& c, double epsilon) {
        CheckCounts(r, c);
        return q::PsiFromCounts(r, c, epsilon);
      },
      "reference"_a, "current"_a, "epsilon"_a);
  m.def(
      "js_from_counts",
      [](const std::vector<int64_t>& r, const std::vector<int64_t>& c) {
        CheckCounts(r, c);
        return q::JsDivergenceFromCounts(r, c);
      },
      "reference"_a, "current"_a);
  m.def(
      "chi2_from_counts",
      [](const std::vector<int64_t>& r, const std::vector<int64_t>& c) {
        CheckCounts(r, c);
        auto x = q::ChiSquareFromCounts(r, c);
        return nb::make_tuple(x.statistic, x.dof, x.pvalue);
      },
      "reference"_a, "current"_a);
  m.def("drift", &Drift, "reference"_a, "current"_a, "columns"_a, "bins"_a, "epsilon"_a, "metrics"_a,
        "psi_threshold"_a, "ks_pvalue_threshold"_a, "js_threshold"_a, "chi2_pvalue_threshold"_a, "threads"_a = 0);
}

}  // namespace strata_py
