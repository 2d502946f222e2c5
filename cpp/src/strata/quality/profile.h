/// \file
/// Column profiles: per-column summaries of a dataset computed in one streaming pass over Arrow
/// batches (on several threads, each building a partial profile that is merged at the end), and
/// profiles of a table version stored beside the table and kept up to date incrementally.
///
/// What a column profile holds (nulls are counted, never described; NaN is counted apart and
/// left out of every other statistic):
///  - exact: row count, null count, NaN count (floats), min and max, true/false counts;
///  - mergeable floating-point: mean and sample standard deviation (Chan, Golub, LeVeque,
///    "Algorithms for computing the sample variance", 1983: per-batch moments combined pairwise);
///  - sketched (see sketches.h): distinct count (HyperLogLog, exact up to 2^p/8 values),
///    quantiles (KLL), top values with counts (exact up to 2048 distinct values, then
///    Misra–Gries with a stated error bound).
///  - The histogram is derived from the KLL sketch when asked for: `bins` equal-width bins between
///    the exact min and max, each count being valid_count × (F(upper) − F(lower)) for the sketch's
///    CDF F, rounded so the counts add up to valid_count. One pass needs no min/max up front, the
///    histogram merges because the sketch does, and any bin count can be asked for later; the
///    price is the sketch's rank error per bin edge (exact while the sketch is; about ±1.5% of
///    valid_count per edge otherwise).
///
/// Profiles merge (Profile::Merge gives the profile of the union of the rows) and round-trip
/// through JSON, so the profile of appended data updates a stored table profile without reading
/// the rest of the table.
///
/// Uses table/ (snapshots, the log), exec/ (scans) and storage/. Knows nothing of expectations,
/// drift or features.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/quality/sketches.h"
#include "strata/storage/object_store.h"

namespace strata::quality {

/// How a column is summarized, from its Arrow type.
enum class ColumnKind {
  kInteger,   ///< signed and unsigned integers up to 32 bits, int64 (uint64 is profiled as kFloat)
  kFloat,     ///< float16/32/64 (and uint64): NaN counted apart
  kDecimal,   ///< decimals, summarized as float64
  kTemporal,  ///< date, time, timestamp, duration: integers in the type's unit
  kBoolean,
  kString,    ///< utf8 (also large, view and dictionary-encoded)
  kBinary,    ///< binary and fixed-size binary
  kOther,     ///< nested and null types: counts only
};

const char* ColumnKindName(ColumnKind kind);

struct ProfileOptions {
  /// Columns to profile, in this order; empty means every column.
  std::vector<std::string> columns;
  /// Worker threads; 0 means the machine's hardware threads.
  int threads = 0;
  int hll_precision = HyperLogLog::kDefaultPrecision;
  int kll_k = KllSketch::kDefaultK;
  int max_top_items = FrequentItems::kDefaultMaxItems;
  /// Rows per unit of work handed to a thread.
  int64_t slice_rows = 64 * 1024;
  /// Seeds the quantile sketches' random compactions (each column and thread derives its own).
  uint64_t seed = 0;
};

/// A value reported by a profile: min, max, a top value. Integers and temporal values are
/// int64 (temporal in the type's unit), floats and decimals double, strings and binaries the
/// bytes, booleans bool; monostate when there is none.
using ProfileValue = std::variant<std::monostate, bool, int64_t, double, std::string>;

struct HistogramBin {
  double lower = 0;  ///< inclusive
  double upper = 0;  ///< exclusive, except for the last bin (which holds the max)
  int64_t count = 0;
};

struct TopValue {
  ProfileValue value;
  int64_t count = 0;
};

/// The profile of one column. A value type: copy it, merge it, serialize it.
class ColumnProfile {
 public:
  /// An empty profile for a column of `type`.
  static ColumnProfile Make(std::string name, const arrow::DataType& type, const ProfileOptions& options = {});

  /// Adds the rows of `values` (the column's type, or one of the same kind).
  Status Update(const arrow::Array& values);
  /// Adds `rows` null rows (a column absent from some of the data).
  void AddNulls(int64_t rows);
  /// Makes this the profile of the rows of both. kSchemaMismatch when the kinds differ,
  /// kInvalidArgument when the sketch parameters do.
  Status Merge(const ColumnProfile& other);

  const std::string& name() const { return name_; }
  /// The Arrow type, as Arrow prints it ("int64", "timestamp[us, tz=UTC]").
  const std::string& type() const { return type_; }
  ColumnKind kind() const { return kind_; }
  int64_t count() const { return count_; }
  int64_t null_count() const { return null_count_; }
  int64_t nan_count() const { return nan_count_; }
  /// Rows that are neither null nor NaN: what the other statistics describe.
  int64_t valid_count() const { return count_ - null_count_ - nan_count_; }

  /// Estimated number of distinct valid values (exact when distinct_exact()); nullopt for kOther.
  std::optional<double> distinct() const;
  bool distinct_exact() const;
  const ProfileValue& min() const { return min_; }
  const ProfileValue& max() const { return max_; }
  /// Mean and sample standard deviation (n − 1) of numeric, temporal and boolean (fraction
  /// true) columns; nullopt without values (stdev: fewer than two).
  std::optional<double> mean() const;
  std::optional<double> stdev() const;
  /// String and binary lengths in bytes.
  std::optional<int64_t> min_length() const;
  std::optional<int64_t> max_length() const;
  std::optional<double> mean_length() const;

  /// Approximate quantiles (q in [0, 1]) of numeric and temporal columns; nullopt otherwise or
  /// without values.
  std::optional<double> Quantile(double q) const;
  /// `bins` equal-width bins between min and max, derived from the quantile sketch (see the
  /// file comment); empty for other kinds or without values. REQUIRES: bins >= 1.
  std::vector<HistogramBin> Histogram(int bins = 20) const;
  /// The `n` most frequent values of integer, boolean, string and binary columns.
  std::vector<TopValue> TopValues(size_t n = 10) const;
  /// True when TopValues() counts are exact; else each is at most top_values_max_error() low.
  bool top_values_exact() const;
  int64_t top_values_max_error() const;

  /// The sketches (absent for kinds that do not use them).
  const std::optional<HyperLogLog>& hll() const { return hll_; }
  const std::optional<KllSketch>& kll() const { return kll_; }
  const std::optional<FrequentItems>& top() const { return top_; }

 private:
  friend class Profile;
  friend struct ColumnUpdater;
  ColumnProfile() = default;

  std::string name_, type_;
  ColumnKind kind_ = ColumnKind::kOther;
  int64_t count_ = 0, null_count_ = 0, nan_count_ = 0;
  ProfileValue min_, max_;
  // Moments of the valid values (Chan et al.), of (value - shift_) so that integers far from
  // zero (timestamps) keep their precision; shift_ is 0 for floats.
  int64_t moment_n_ = 0;
  int64_t shift_ = 0;
  double mean_ = 0, m2_ = 0;
  // Byte lengths of strings and binaries.
  int64_t length_min_ = std::numeric_limits<int64_t>::max(), length_max_ = 0, length_sum_ = 0;
  std::optional<HyperLogLog> hll_;
  std::optional<KllSketch> kll_;
  std::optional<FrequentItems> top_;
};

/// Profiles of the columns of a dataset. A value type.
class Profile {
 public:
  Profile() = default;
  /// An empty profile of `schema`'s columns (options.columns selects and orders them;
  /// kInvalidArgument names an unknown one).
  static Result<Profile> Make(const arrow::Schema& schema, const ProfileOptions& options = {});

  /// Adds the rows of `batch` (columns matched by name; a profiled column missing from the batch
  /// counts as null for its rows). Single-threaded; see ProfileStream for the parallel pass.
  Status Update(const arrow::RecordBatch& batch);
  /// Makes this the profile of the rows of both (columns matched by name; a column only one side
  /// has counts as null on the other side's rows).
  Status Merge(const Profile& other);

  int64_t num_rows() const { return num_rows_; }
  const std::vector<ColumnProfile>& columns() const { return columns_; }
  /// The column's profile, or null.
  const ColumnProfile* column(std::string_view name) const;
  /// The table version this profile describes, when it describes one.
  std::optional<int64_t> table_version() const { return table_version_; }
  void set_table_version(std::optional<int64_t> v) { table_version_ = v; }
  /// The sketch parameters (columns, threads and slice size are not part of a profile).
  const ProfileOptions& options() const { return options_; }
  /// The profile of some columns only, in the given order (kInvalidArgument for unknown ones).
  Result<Profile> Select(const std::vector<std::string>& names) const;

  /// JSON with a human-readable summary per column and the state needed to merge it later
  /// (sketches as base64). `histogram_bins` and `top_values` size the summary only.
  std::string ToJson(int histogram_bins = 20, size_t top_values = 10) const;
  static Result<Profile> FromJson(std::string_view json);

 private:
  ProfileOptions options_;
  int64_t num_rows_ = 0;
  std::optional<int64_t> table_version_;
  std::vector<ColumnProfile> columns_;
};

/// Profiles every batch of `reader` in one pass on options.threads threads (large batches are
/// cut into slices of options.slice_rows rows).
Result<Profile> ProfileStream(arrow::RecordBatchReader& reader, const ProfileOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Profiles of table versions
// ---------------------------------------------------------------------------------------------

/// Folder of stored profiles, relative to the table root. Paths starting with '_' are ignored by
/// Delta readers and by VACUUM.
inline constexpr const char* kProfileDir = "_strata/profiles";
/// `_strata/profiles/<20-digit version>.json`
std::string StoredProfilePath(int64_t version);
/// Versions that have a stored profile, ascending.
Result<std::vector<int64_t>> ListStoredProfiles(storage::ObjectStore& store);
/// The stored profile of `version`, or nullopt when there is none (an unreadable one is an error).
Result<std::optional<Profile>> ReadStoredProfile(storage::ObjectStore& store, int64_t version);
/// Stores `profile` for its table_version(). REQUIRES: profile.table_version().
Status WriteStoredProfile(storage::ObjectStore& store, const Profile& profile);

struct TableProfileOptions {
  ProfileOptions profile;
  /// Reuse the stored profile of the version, or extend the stored profile of an earlier version
  /// when only appends happened since.
  bool use_stored = true;
  /// Store the result (only whole-table profiles are stored, never column subsets).
  bool store = true;
};

enum class ProfileSource {
  kStored,       ///< the version's stored profile
  kIncremental,  ///< an earlier version's stored profile merged with the appended files
  kFull,         ///< a scan of the whole version
};

const char* ProfileSourceName(ProfileSource source);

struct TableProfile {
  Profile profile;
  int64_t version = -1;
  ProfileSource source = ProfileSource::kFull;
  std::optional<int64_t> base_version;  ///< kIncremental: the stored profile it extended
  int64_t files_scanned = 0;
  int64_t rows_scanned = 0;
};

/// The profile of the table at `version` (latest when nullopt). With use_stored, reuses the
/// version's stored profile; otherwise, when the latest earlier stored profile is followed only by
/// commits that add files (no remove, no metadata or protocol change: blind appends), profiles
/// just the added files and merges; otherwise scans the version.
Result<TableProfile> ProfileTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                  const TableProfileOptions& options = {});

namespace internal {

/// The number of threads `requested` means (0: hardware threads), at least 1.
int ResolveThreads(int requested);

/// Runs fn(task, thread) for every task in [0, num_tasks) on up to `threads` threads (the
/// caller's included; `thread` is in [0, threads)). Stops handing out tasks after the first
/// error and returns it.
Status ParallelFor(int64_t num_tasks, int threads, const std::function<Status(int64_t task, int thread)>& fn);

}  // namespace internal

}  // namespace strata::quality
