/// \file
/// Drift between a reference and a current dataset, column by column.
///
/// Numeric columns (integers, floats, decimals, temporal values as their integers):
///  - PSI, the population stability index, sum over bins of (c - r) * ln(c / r) where r and c
///    are the reference's and the current data's proportions per bin. The bins are cut at the
///    reference's quantiles i/bins (i = 1 .. bins-1), computed exactly like numpy's default
///    np.quantile (method "linear"); a value x falls in bin #{edges <= x} (np.searchsorted(edges,
///    x, side="right")), so values below or above the reference's range land in the first or
///    last bin. A proportion of 0 is replaced by `epsilon` (1e-4 by default) before the
///    logarithm, without renormalizing. The edges are exact order statistics of the reference,
///    found without sorting it (see Psi()).
///  - KS, the two-sample Kolmogorov–Smirnov statistic D = sup |F_ref - F_cur| (exact over both
///    samples) and its asymptotic p-value Q_KS(D * sqrt(n*m / (n+m))) with the Kolmogorov
///    distribution's survival function (scipy.stats.kstwobign.sf).
///  - JS, the Jensen–Shannon divergence in base 2 (in [0, 1]) of the PSI bins' proportions.
/// Categorical columns (strings, binaries, booleans, dictionaries):
///  - chi-square test of homogeneity of the 2 x k table of category counts (statistic, k - 1
///    degrees of freedom, p-value; scipy.stats.chi2_contingency(..., correction=False)),
///  - JS divergence (base 2) of the category proportions (the square of
///    scipy.spatial.distance.jensenshannon(p, q, base=2)),
///  - PSI over the categories (same epsilon).
/// Nulls are ignored everywhere, and NaN in numeric columns too (both are counted and reported).
///
/// Knows nothing of tables: callers hand it Arrow data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace strata::quality {

/// Replaces empty-bin proportions in PSI (see the file comment).
inline constexpr double kPsiEpsilon = 1e-4;

/// Bins cut at the reference's quantiles, and both sides' counts in them.
struct QuantileBins {
  /// bins - 1 interior edges, ascending (repeated when the reference has ties).
  std::vector<double> edges;
  std::vector<int64_t> reference;  ///< count per bin (bins entries)
  std::vector<int64_t> current;
  int64_t reference_ignored = 0;   ///< nulls and NaN left out
  int64_t current_ignored = 0;
};

struct PsiResult {
  double psi = 0;
  QuantileBins bins;
};

/// PSI of two numeric arrays (see the file comment). The edges are exact order statistics found
/// without sorting: one pass builds a histogram of 16384 linear buckets over the reference (the
/// range from a sample; outliers clamp to the end buckets) and remembers each value's bucket in
/// 2 bytes; the buckets holding the needed order statistics are then read back (those values
/// only) and sorted; the reference's bin counts follow from the histogram and those values. The
/// current data is counted with a branch-free SIMD comparison against the edges. Memory: 2
/// bytes per reference value while it runs. Uses `threads` threads (0: all).
/// kInvalidArgument when either side has no value (all null or NaN, or empty) or bins < 1;
/// kSchemaMismatch for non-numeric input.
Result<PsiResult> Psi(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current, int bins = 10,
                      double epsilon = kPsiEpsilon, int threads = 0);

/// PSI from counts per bin (or category). REQUIRES: equal sizes, each side with a positive total.
double PsiFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current,
                     double epsilon = kPsiEpsilon);

/// Jensen–Shannon divergence, base 2, of the proportions given by two count vectors.
double JsDivergenceFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current);

struct KsResult {
  double statistic = 0;  ///< D
  double pvalue = 1;     ///< asymptotic
  int64_t reference_count = 0;
  int64_t current_count = 0;
};

/// Two-sample Kolmogorov–Smirnov test of two numeric arrays (both sorted by a parallel radix
/// sort; errors as for Psi).
Result<KsResult> KolmogorovSmirnov(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current,
                                   int threads = 0);

/// P(K > x) for the Kolmogorov distribution (the limit of sqrt(n) * D_n).
double KolmogorovSurvival(double x);

struct ChiSquareResult {
  double statistic = 0;
  int64_t dof = 0;
  double pvalue = 1;
};

/// Chi-square test of homogeneity of a 2 x k table (rows: the two count vectors); categories
/// with no count on either side are left out.
ChiSquareResult ChiSquareFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current);

/// P(X > x) for a chi-square variable with `dof` degrees of freedom (regularized upper
/// incomplete gamma function Q(dof/2, x/2)).
double ChiSquareSurvival(double x, double dof);

/// Counts per category of two categorical (or integer) arrays, categories sorted (as text:
/// integers in decimal, booleans "false"/"true").
struct CategoryCounts {
  std::vector<std::string> categories;
  std::vector<int64_t> reference;
  std::vector<int64_t> current;
  int64_t reference_ignored = 0;  ///< nulls
  int64_t current_ignored = 0;
};

/// kInvalidArgument when either side has no value; kSchemaMismatch for floating-point or
/// mismatched kinds.
Result<CategoryCounts> CountCategories(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current);

/// Counts of both sides in the reference's quantile bins (the PSI bins) of numeric arrays.
Result<QuantileBins> BinByReferenceQuantiles(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current,
                                             int bins = 10, int threads = 0);

// ---------------------------------------------------------------------------------------------
// Per-column drift report
// ---------------------------------------------------------------------------------------------

struct DriftOptions {
  /// Columns to compare; empty means every column both sides have.
  std::vector<std::string> columns;
  int bins = 10;
  double epsilon = kPsiEpsilon;
  /// Metrics to compute among "psi", "ks", "js", "chi2"; empty means all that apply to a column.
  std::vector<std::string> metrics;
  /// Alert when PSI > psi_threshold, KS p-value < ks_pvalue_threshold, JS > js_threshold, and
  /// (when set) chi-square p-value < chi2_pvalue_threshold.
  double psi_threshold = 0.2;
  double ks_pvalue_threshold = 0.05;
  double js_threshold = 0.1;
  std::optional<double> chi2_pvalue_threshold;
  int threads = 0;
};

struct DriftAlert {
  std::string metric;  ///< "psi", "ks_pvalue", "js", "chi2_pvalue"
  double value = 0;
  double threshold = 0;
};

struct ColumnDrift {
  std::string name;
  std::string kind;  ///< "numeric", "categorical", or "" when skipped
  int64_t reference_count = 0;  ///< values compared (nulls and NaN left out)
  int64_t current_count = 0;
  int64_t reference_ignored = 0;
  int64_t current_ignored = 0;
  std::optional<double> psi;
  std::optional<KsResult> ks;
  std::optional<ChiSquareResult> chi2;
  std::optional<double> js;
  std::vector<DriftAlert> alerts;
  /// Why the column has no metrics ("only in the reference", "no values in the current data").
  std::string skipped;
};

struct DriftReport {
  std::vector<ColumnDrift> columns;
  DriftOptions options;
  bool has_alerts() const;
  std::string ToJson() const;
};

/// Reads both readers and compares their columns (see DriftOptions). A column requested in
/// `columns` that a side lacks is kInvalidArgument; other per-column problems (no values, kinds
/// that differ, nested types) are reported in ColumnDrift::skipped.
Result<DriftReport> Drift(arrow::RecordBatchReader& reference, arrow::RecordBatchReader& current,
                          const DriftOptions& options = {});

namespace internal {

/// Tests: limits the SIMD kernels to a level (0 SSE2, 1 AVX2, 2 AVX-512; -1 lifts the limit) and
/// returns the level now in use (never above what the CPU has). Not thread-safe with running
/// computations.
int SetSimdLevelForTesting(int level);

}  // namespace internal

}  // namespace strata::quality
