#include "strata/quality/sketches.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace strata::quality {

namespace {

// Little-endian serialization helpers.
class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    U64(bits);
  }
  void Bytes(std::string_view s) { out_.append(s); }
  std::string Release() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  ByteReader(std::string_view in, const char* what) : in_(in), what_(what) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[pos_++])) << (8 * i);
    return v;
  }
  uint64_t U64() {
    if (!Need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_++])) << (8 * i);
    return v;
  }
  double F64() {
    uint64_t bits = U64();
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    return v;
  }
  std::string_view Bytes(size_t n) {
    if (!Need(n)) return {};
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  size_t remaining() const { return in_.size() - pos_; }
  Status Corrupt(std::string_view why) const {
    return Error(ErrorCode::kInvalidArgument, "corrupt ", what_, " sketch: ", why);
  }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view in_;
  const char* what_;
  size_t pos_ = 0;
  bool ok_ = true;
};

constexpr uint8_t kFormatVersion = 1;

}  // namespace

// =============================================================================================
// HyperLogLog
// =============================================================================================

HyperLogLog::HyperLogLog(int precision) : precision_(std::clamp(precision, kMinPrecision, kMaxPrecision)) {
  set_.assign(16, 0);
}

void HyperLogLog::InsertExact(uint64_t hash) {
  const size_t mask = set_.size() - 1;
  size_t i = static_cast<size_t>(hash) & mask;
  while (set_[i] != 0) {
    if (set_[i] == hash) return;
    i = (i + 1) & mask;
  }
  set_[i] = hash;
  ++set_size_;
}

void HyperLogLog::AddExact(uint64_t hash) {
  if (hash == 0) hash = 1;
  InsertExact(hash);
  if (set_size_ * 2 > set_.size()) {
    const size_t limit = (size_t{1} << precision_) / 8;
    if (set_size_ > limit) {
      ToDense();
      return;
    }
    std::vector<uint64_t> old(set_.size() * 2, 0);
    old.swap(set_);
    set_size_ = 0;
    for (uint64_t h : old) {
      if (h != 0) InsertExact(h);
    }
  }
}

void HyperLogLog::ToDense() {
  registers_.assign(size_t{1} << precision_, 0);
  dense_ = true;
  for (uint64_t h : set_) {
    if (h != 0) AddDense(h);
  }
  set_.clear();
  set_.shrink_to_fit();
  set_size_ = 0;
}

namespace {

// Ertl (2017), Algorithm 6: sigma and tau of the improved raw estimator.
double Sigma(double x) {
  if (x == 1) return std::numeric_limits<double>::infinity();
  double y = 1, z = x, prev;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z != prev);
  return z;
}

double Tau(double x) {
  if (x == 0 || x == 1) return 0;
  double y = 1, z = 1 - x, prev;
  do {
    x = std::sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z != prev);
  return z / 3;
}

}  // namespace

double HyperLogLog::Estimate() const {
  if (!dense_) return static_cast<double>(set_size_);
  const int q = 64 - precision_;
  const double m = static_cast<double>(registers_.size());
  std::vector<double> c(q + 2, 0.0);
  for (uint8_t r : registers_) c[std::min<int>(r, q + 1)] += 1;
  double z = m * Tau(1 - c[q + 1] / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + c[k]);
  z += m * Sigma(c[0] / m);
  const double alpha = 1 / (2 * std::log(2.0));
  return alpha * m * m / z;
}

Status HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.precision_ != precision_) {
    return Error(ErrorCode::kInvalidArgument, "cannot merge HyperLogLog sketches of precision ", precision_, " and ",
                 other.precision_);
  }
  if (!other.dense_) {
    for (uint64_t h : other.set_) {
      if (h != 0) Add(h);
    }
    return Status::OK();
  }
  if (!dense_) ToDense();
  for (size_t i = 0; i < registers_.size(); ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
  return Status::OK();
}

std::string HyperLogLog::Serialize() const {
  ByteWriter w;
  w.U8('H');
  w.U8(kFormatVersion);
  w.U8(static_cast<uint8_t>(precision_));
  w.U8(dense_ ? 1 : 0);
  if (!dense_) {
    std::vector<uint64_t> hashes;
    hashes.reserve(set_size_);
    for (uint64_t h : set_) {
      if (h != 0) hashes.push_back(h);
    }
    std::sort(hashes.begin(), hashes.end());
    w.U32(static_cast<uint32_t>(hashes.size()));
    for (uint64_t h : hashes) w.U64(h);
  } else {
    // Registers hold at most 64 - precision + 1 <= 61: six bits each, four per three bytes.
    for (size_t i = 0; i < registers_.size(); i += 4) {
      uint32_t v = 0;
      for (size_t j = 0; j < 4; ++j) v |= static_cast<uint32_t>(registers_[i + j] & 63) << (6 * j);
      w.U8(static_cast<uint8_t>(v));
      w.U8(static_cast<uint8_t>(v >> 8));
      w.U8(static_cast<uint8_t>(v >> 16));
    }
  }
  return w.Release();
}

Result<HyperLogLog> HyperLogLog::Deserialize(std::string_view bytes) {
  ByteReader r(bytes, "HyperLogLog");
  if (r.U8() != 'H' || !r.ok()) return r.Corrupt("bad magic");
  if (r.U8() != kFormatVersion) return r.Corrupt("unknown format version");
  int p = r.U8();
  uint8_t dense = r.U8();
  if (!r.ok() || p < kMinPrecision || p > kMaxPrecision || dense > 1) return r.Corrupt("bad header");
  HyperLogLog hll(p);
  if (!dense) {
    uint32_t n = r.U32();
    if (!r.ok() || n > r.remaining() / 8) return r.Corrupt("truncated");
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t h = r.U64();
      if (h == 0) return r.Corrupt("zero hash");
      hll.Add(h);
    }
  } else {
    hll.ToDense();
    const size_t m = size_t{1} << p;
    if (r.remaining() != m / 4 * 3) return r.Corrupt("wrong register size");
    for (size_t i = 0; i < m; i += 4) {
      uint32_t v = r.U8();
      v |= static_cast<uint32_t>(r.U8()) << 8;
      v |= static_cast<uint32_t>(r.U8()) << 16;
      for (size_t j = 0; j < 4; ++j) {
        uint8_t reg = static_cast<uint8_t>((v >> (6 * j)) & 63);
        if (reg > 64 - p + 1) return r.Corrupt("register out of range");
        hll.registers_[i + j] = reg;
      }
    }
  }
  if (!r.ok() || !r.done()) return r.Corrupt("trailing or missing bytes");
  return hll;
}

// =============================================================================================
// KLL
// =============================================================================================

KllSketch::KllSketch(int k, uint64_t seed) : k_(std::clamp(k, kMinK, kMaxK)), rng_(seed) {
  levels_.emplace_back();
  UpdateCapacities();
}

// Capacities follow KLL: k at the top level, times 2/3 per level below, at least 2. The bottom
// levels whose capacity is 2 (a compactor of two values keeps one at random) are exactly a sampler
// that keeps one uniformly chosen value per block of 2^s values; they are replaced by one, which
// makes updates O(1) once the stream is long. Changing the level count may raise s: the values of
// the levels that become part of the sampler are fed to it with their weights.
namespace {

std::vector<uint32_t> KllCapacities(int k, size_t num_levels) {
  std::vector<uint32_t> caps(num_levels, 2);
  double c = k;
  for (size_t d = 0; d < num_levels; ++d) {
    caps[num_levels - 1 - d] = std::max<uint32_t>(2, static_cast<uint32_t>(std::ceil(c - 1e-9)));
    c *= 2.0 / 3.0;
  }
  return caps;
}

uint32_t SamplerLevel(const std::vector<uint32_t>& caps) {
  uint32_t s = 0;
  while (s + 1 < caps.size() && caps[s] == 2) ++s;
  return s;
}

/// The sampler level the stream length allows: the largest s with 2^s * kSampleDivisor <= n.
uint32_t SamplerLevelForN(int64_t n) {
  uint32_t s = 0;
  while (s < 62 && (KllSketch::kSampleDivisor << (s + 1)) <= n) ++s;
  return s;
}

}  // namespace

void KllSketch::UpdateCapacities() {
  const uint32_t by_n = SamplerLevelForN(n_);
  next_sampler_n_ = KllSketch::kSampleDivisor << (by_n + 1);
  if (levels_.size() < by_n + 2) levels_.resize(by_n + 2);
  const size_t num_levels = levels_.size();
  capacities_ = KllCapacities(k_, num_levels);
  const uint32_t s = std::max(SamplerLevel(capacities_), by_n);
  if (s > sampler_level_) {
    const uint32_t old = sampler_level_;
    sampler_level_ = s;
    block_ = uint64_t{1} << s;
    chosen_ = RandomBelow(block_);
    for (uint32_t h = old; h < s; ++h) {
      std::vector<double> values;
      values.swap(levels_[h]);
      size_ -= values.size();
      for (double v : values) AddWeighted(v, uint64_t{1} << h);
    }
  }
  max_size_ = 0;
  for (size_t h = sampler_level_; h < num_levels; ++h) max_size_ += capacities_[h];
}

void KllSketch::Rescale() {
  UpdateCapacities();
  Compress();
}

// A value of weight w < block: the pending value stands for pending_weight_ values of the block.
// Below a full block the pending value becomes v with probability w / (pending + w). Otherwise one
// of the two is emitted with the whole block's weight and the other stays pending with the excess
// r; the pending value is emitted with probability (pending - r) / (block - r), which keeps the
// expected weight of each value equal to its true weight (so ranks stay unbiased).
void KllSketch::AddWeighted(double v, uint64_t weight) {
  const uint64_t total = pending_weight_ + weight;
  if (total < block_) {
    if (RandomBelow(total) < weight) pending_ = v;
    pending_weight_ = total;
  } else {
    const uint64_t r = total - block_;
    if (RandomBelow(block_ - r) < pending_weight_ - r) {
      Emit(pending_);
      pending_ = v;
    } else {
      Emit(v);
    }
    pending_weight_ = r;
  }
  chosen_ = RandomBelow(block_);
}

void KllSketch::CompactLevel(size_t h) {
  auto& level = levels_[h];
  std::sort(level.begin(), level.end());
  // An odd value out stays at this level (with its exact weight); the rest is an even run.
  const size_t keep = level.size() % 2;
  const size_t offset = keep + (Next() & 1);
  auto& up = levels_[h + 1];
  for (size_t i = offset; i < level.size(); i += 2) up.push_back(level[i]);
  size_ -= (level.size() - keep) / 2;
  level.resize(keep);
}

void KllSketch::Compress() {
  while (size_ >= max_size_) {
    size_t h = sampler_level_;
    while (h < levels_.size() && levels_[h].size() < capacities_[h]) ++h;
    if (h >= levels_.size()) break;  // cannot happen: size_ >= max_size_ means a level is full
    if (h + 1 == levels_.size()) {
      levels_.emplace_back();
      UpdateCapacities();
      continue;
    }
    CompactLevel(h);
  }
}

Status KllSketch::Merge(const KllSketch& other) {
  if (other.k_ != k_) {
    return Error(ErrorCode::kInvalidArgument, "cannot merge KLL sketches with k ", k_, " and ", other.k_);
  }
  if (other.n_ == 0) return Status::OK();
  n_ += other.n_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  if (levels_.size() < other.levels_.size()) levels_.resize(other.levels_.size());
  UpdateCapacities();
  // Our sampler level is now at least the other's, so its pending weight fits in our block.
  for (size_t h = 0; h < other.levels_.size(); ++h) {
    for (double v : other.levels_[h]) {
      if (h < sampler_level_) {
        AddWeighted(v, uint64_t{1} << h);
      } else {
        levels_[h].push_back(v);
        ++size_;
      }
    }
  }
  // A pending value implies a sampler (level >= 1) in `other`, hence in this sketch too.
  if (other.pending_weight_ > 0) AddWeighted(other.pending_, other.pending_weight_);
  Compress();
  return Status::OK();
}

size_t KllSketch::num_retained() const { return size_ + (pending_weight_ > 0 ? 1 : 0); }

std::vector<KllSketch::Weighted> KllSketch::SortedView() const {
  std::vector<Weighted> view;
  view.reserve(num_retained());
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) view.push_back({v, uint64_t{1} << h});
  }
  if (pending_weight_ > 0) view.push_back({pending_, pending_weight_});
  std::sort(view.begin(), view.end(), [](const Weighted& a, const Weighted& b) { return a.value < b.value; });
  return view;
}

std::vector<double> KllSketch::Quantiles(const std::vector<double>& qs) const {
  std::vector<double> out(qs.size(), std::numeric_limits<double>::quiet_NaN());
  if (n_ == 0) return out;
  auto view = SortedView();
  std::vector<uint64_t> cum(view.size());
  uint64_t total = 0;
  for (size_t i = 0; i < view.size(); ++i) cum[i] = total += view[i].weight;
  for (size_t i = 0; i < qs.size(); ++i) {
    double q = std::clamp(qs[i], 0.0, 1.0);
    if (std::isnan(qs[i])) continue;
    if (q <= 0) {
      out[i] = min_;
    } else if (q >= 1) {
      out[i] = max_;
    } else {
      const double target = q * static_cast<double>(total);
      auto it = std::lower_bound(cum.begin(), cum.end(), target,
                                 [](uint64_t c, double t) { return static_cast<double>(c) < t; });
      size_t idx = it == cum.end() ? view.size() - 1 : static_cast<size_t>(it - cum.begin());
      out[i] = std::clamp(view[idx].value, min_, max_);
    }
  }
  return out;
}

double KllSketch::Quantile(double q) const { return Quantiles({q})[0]; }

std::vector<double> KllSketch::FractionsBelow(const std::vector<double>& points) const {
  std::vector<double> out(points.size(), std::numeric_limits<double>::quiet_NaN());
  if (n_ == 0) return out;
  auto view = SortedView();
  std::vector<uint64_t> cum(view.size() + 1, 0);
  for (size_t i = 0; i < view.size(); ++i) cum[i + 1] = cum[i] + view[i].weight;
  const double total = static_cast<double>(cum.back());
  for (size_t i = 0; i < points.size(); ++i) {
    const double x = points[i];
    if (std::isnan(x)) continue;
    if (x <= min_) {
      out[i] = 0;
    } else if (x > max_) {
      out[i] = 1;
    } else {
      auto it = std::lower_bound(view.begin(), view.end(), x,
                                 [](const Weighted& w, double v) { return w.value < v; });
      out[i] = static_cast<double>(cum[it - view.begin()]) / total;
    }
  }
  return out;
}

std::string KllSketch::Serialize() const {
  ByteWriter w;
  w.U8('K');
  w.U8(kFormatVersion);
  w.U32(static_cast<uint32_t>(k_));
  w.U64(static_cast<uint64_t>(n_));
  w.F64(min_);
  w.F64(max_);
  w.U32(sampler_level_);
  w.F64(pending_);
  w.U64(pending_weight_);
  w.U32(static_cast<uint32_t>(levels_.size()));
  for (const auto& level : levels_) {
    w.U32(static_cast<uint32_t>(level.size()));
    for (double v : level) w.F64(v);
  }
  return w.Release();
}

Result<KllSketch> KllSketch::Deserialize(std::string_view bytes) {
  ByteReader r(bytes, "KLL");
  if (r.U8() != 'K' || !r.ok()) return r.Corrupt("bad magic");
  if (r.U8() != kFormatVersion) return r.Corrupt("unknown format version");
  uint32_t k = r.U32();
  if (!r.ok() || k < static_cast<uint32_t>(kMinK) || k > static_cast<uint32_t>(kMaxK)) return r.Corrupt("bad k");
  const uint64_t n = r.U64();
  KllSketch s(static_cast<int>(k), n);
  s.n_ = static_cast<int64_t>(n);
  s.min_ = r.F64();
  s.max_ = r.F64();
  const uint32_t sampler_level = r.U32();
  s.pending_ = r.F64();
  s.pending_weight_ = r.U64();
  const uint32_t num_levels = r.U32();
  if (!r.ok() || num_levels == 0 || num_levels > 64 || sampler_level >= num_levels) return r.Corrupt("bad levels");
  s.levels_.assign(num_levels, {});
  uint64_t weight = 0;
  bool overflow = false;
  for (uint32_t h = 0; h < num_levels; ++h) {
    const uint32_t count = r.U32();
    if (!r.ok() || count > r.remaining() / 8) return r.Corrupt("truncated");
    s.levels_[h].resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      double v = r.F64();
      if (std::isnan(v)) return r.Corrupt("NaN value");
      s.levels_[h][i] = v;
    }
    if (count > 0 && (h < sampler_level || h >= 63)) return r.Corrupt("values below the sampler level");
    if (count > 0) {
      const uint64_t add = static_cast<uint64_t>(count) << h;
      overflow |= (add >> h) != count || weight + add < weight;
      weight += add;
    }
    s.size_ += count;
  }
  if (!r.ok() || !r.done()) return r.Corrupt("trailing or missing bytes");
  if (s.pending_weight_ >= (uint64_t{1} << sampler_level)) return r.Corrupt("pending weight exceeds the sampler block");
  if (sampler_level < SamplerLevel(KllCapacities(s.k_, num_levels))) return r.Corrupt("sampler level too low");
  if (overflow || weight + s.pending_weight_ != n) return r.Corrupt("weights do not add up to n");
  s.sampler_level_ = sampler_level;
  s.block_ = uint64_t{1} << sampler_level;
  s.UpdateCapacities();
  s.chosen_ = s.RandomBelow(s.block_);
  s.Compress();
  return s;
}

// =============================================================================================
// Frequent items
// =============================================================================================

FrequentItems::FrequentItems(int max_items) : max_items_(std::max(2, max_items)) {
  size_t cap = 4;
  int bits = 2;
  while (cap < static_cast<size_t>(max_items_) * 2) {
    cap *= 2;
    ++bits;
  }
  shift_ = 64 - bits;
  slots_.assign(cap, Slot{0, 0, 0, 0});
}

bool FrequentItems::Add(uint64_t key, int64_t count, std::string_view payload) {
  if (count <= 0) return false;
  const size_t mask = slots_.size() - 1;
  size_t i = SlotOf(key);
  while (slots_[i].count != 0) {
    if (slots_[i].key == key) {
      slots_[i].count += count;
      return true;
    }
    i = (i + 1) & mask;
  }
  Insert(key, count, payload);
  return false;
}

void FrequentItems::Insert(uint64_t key, int64_t count, std::string_view payload) {
  if (size_ >= static_cast<size_t>(max_items_)) Purge();
  const size_t mask = slots_.size() - 1;
  size_t i = SlotOf(key);
  while (slots_[i].count != 0) i = (i + 1) & mask;
  slots_[i] = Slot{key, count, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(payload.size())};
  arena_.append(payload);
  ++size_;
}

void FrequentItems::Rebuild(std::vector<Item> items) {
  std::fill(slots_.begin(), slots_.end(), Slot{0, 0, 0, 0});
  arena_.clear();
  size_ = 0;
  const size_t mask = slots_.size() - 1;
  for (auto& it : items) {
    size_t i = SlotOf(it.key);
    while (slots_[i].count != 0) i = (i + 1) & mask;
    slots_[i] = Slot{it.key, it.count, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(it.payload.size())};
    arena_.append(it.payload);
    ++size_;
  }
}

// Misra–Gries reduction: subtract the (keep + 1)-th largest count (keep = max_items/4) from
// every counter and drop those left at zero or below. Each reduction removes at least (keep + 1)
// times the amount subtracted from the total, so the accumulated error is at most n / (keep + 1).
// Keeping a quarter makes reductions rare (one per 3/4 max_items new keys).
void FrequentItems::Purge() {
  const size_t keep = static_cast<size_t>(max_items_) / 4;
  if (size_ <= keep) return;
  // The threshold: usually a small count (high-cardinality data), found with a histogram.
  constexpr int kSmall = 64;
  size_t at_least[kSmall + 1] = {};  // at_least[c]: counters with count == c (c < kSmall), >= kSmall at kSmall
  for (const auto& s : slots_) {
    if (s.count != 0) ++at_least[std::min<int64_t>(s.count, kSmall)];
  }
  int64_t threshold = -1;
  size_t above = at_least[kSmall];  // counters with count >= kSmall
  if (above <= keep) {
    for (int c = kSmall - 1; c >= 1; --c) {
      if (above + at_least[c] > keep) {
        threshold = c;  // the (keep+1)-th largest count
        break;
      }
      above += at_least[c];
    }
  }
  if (threshold < 0) {
    std::vector<int64_t> counts;
    counts.reserve(size_);
    for (const auto& s : slots_) {
      if (s.count != 0) counts.push_back(s.count);
    }
    std::nth_element(counts.begin(), counts.begin() + keep, counts.end(), std::greater<>());
    threshold = counts[keep];
  }
  std::vector<Slot> kept;
  kept.reserve(keep);
  std::string arena;
  for (const auto& s : slots_) {
    if (s.count > threshold) {
      kept.push_back(Slot{s.key, s.count - threshold, static_cast<uint32_t>(arena.size()), s.payload_size});
      arena.append(arena_, s.payload_offset, s.payload_size);
    }
  }
  std::fill(slots_.begin(), slots_.end(), Slot{0, 0, 0, 0});
  const size_t mask = slots_.size() - 1;
  for (const auto& s : kept) {
    size_t i = SlotOf(s.key);
    while (slots_[i].count != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
  size_ = kept.size();
  arena_.swap(arena);
  max_error_ += threshold;
  purged_ = true;
}

Status FrequentItems::Merge(const FrequentItems& other) {
  if (other.max_items_ != max_items_) {
    return Error(ErrorCode::kInvalidArgument, "cannot merge frequent-item summaries of ", max_items_, " and ",
                 other.max_items_, " items");
  }
  for (const auto& s : other.slots_) {
    if (s.count != 0) Add(s.key, s.count, std::string_view(other.arena_).substr(s.payload_offset, s.payload_size));
  }
  max_error_ += other.max_error_;
  purged_ = purged_ || other.purged_;
  return Status::OK();
}

std::vector<FrequentItems::Item> FrequentItems::Top(size_t n) const {
  std::vector<Item> items;
  items.reserve(size_);
  for (const auto& s : slots_) {
    if (s.count != 0) items.push_back({s.key, s.count, arena_.substr(s.payload_offset, s.payload_size)});
  }
  auto order = [](const Item& a, const Item& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.payload != b.payload) return a.payload < b.payload;
    return a.key < b.key;
  };
  if (items.size() > n) {
    std::partial_sort(items.begin(), items.begin() + n, items.end(), order);
    items.resize(n);
  } else {
    std::sort(items.begin(), items.end(), order);
  }
  return items;
}

std::string FrequentItems::Serialize() const {
  ByteWriter w;
  w.U8('F');
  w.U8(kFormatVersion);
  w.U32(static_cast<uint32_t>(max_items_));
  w.U64(static_cast<uint64_t>(max_error_));
  w.U8(purged_ ? 1 : 0);
  auto items = Top(size_);
  w.U32(static_cast<uint32_t>(items.size()));
  for (const auto& it : items) {
    w.U64(it.key);
    w.U64(static_cast<uint64_t>(it.count));
    w.U32(static_cast<uint32_t>(it.payload.size()));
    w.Bytes(it.payload);
  }
  return w.Release();
}

Result<FrequentItems> FrequentItems::Deserialize(std::string_view bytes) {
  ByteReader r(bytes, "frequent-items");
  if (r.U8() != 'F' || !r.ok()) return r.Corrupt("bad magic");
  if (r.U8() != kFormatVersion) return r.Corrupt("unknown format version");
  const uint32_t max_items = r.U32();
  const uint64_t max_error = r.U64();
  const uint8_t purged = r.U8();
  const uint32_t n = r.U32();
  if (!r.ok() || max_items < 2 || max_items > (1u << 24) || n > max_items || purged > 1 ||
      max_error > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return r.Corrupt("bad header");
  }
  FrequentItems f(static_cast<int>(max_items));
  std::vector<Item> items;
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t key = r.U64();
    const int64_t count = static_cast<int64_t>(r.U64());
    const uint32_t len = r.U32();
    auto payload = r.Bytes(len);
    if (!r.ok() || count <= 0) return r.Corrupt("bad item");
    items.push_back({key, count, std::string(payload)});
  }
  if (!r.done()) return r.Corrupt("trailing bytes");
  std::vector<uint64_t> keys;
  for (const auto& it : items) keys.push_back(it.key);
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return r.Corrupt("duplicate keys");
  f.Rebuild(std::move(items));
  f.max_error_ = static_cast<int64_t>(max_error);
  f.purged_ = purged != 0;
  return f;
}

}  // namespace strata::quality
