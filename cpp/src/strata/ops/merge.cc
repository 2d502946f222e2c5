#include "strata/ops/merge.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <deque>
#include <functional>
#include <mutex>
#include <future>
#include <set>
#include <thread>
#include <unordered_set>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>
#include <roaring/roaring64map.hh>

#include "strata/common/hash.h"
#include "strata/exec/scan.h"
#include "strata/expr/expr.h"
#include "strata/ops/change_data.h"
#include "strata/ops/run_observer.h"
#include "strata/ops/validator.h"
#include "strata/ops/write.h"
#include "strata/ops/write_internal.h"
#include "strata/table/deletion_vector.h"
#include "strata/table/pruning.h"
#include "strata/table/snapshot.h"

namespace strata::ops {

namespace {

using table::AddFile;
using Kind = MergeClause::Kind;
using internal::FindColumn;
using internal::HasWriterFeature;
using internal::Lower;

// Field-name prefixes of the joined rows the clause expressions are evaluated on.
constexpr const char* kTargetPrefix = "__t.";
constexpr const char* kSourcePrefix = "__s.";
constexpr int kTargetSide = 1;
constexpr int kSourceSide = 2;

std::string Dotted(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) out += (out.empty() ? "" : ".") + p;
  return out;
}

const char* ClauseName(Kind k) {
  switch (k) {
    case Kind::kMatchedUpdate: return "WHEN MATCHED UPDATE";
    case Kind::kMatchedDelete: return "WHEN MATCHED DELETE";
    case Kind::kNotMatchedInsert: return "WHEN NOT MATCHED INSERT";
    case Kind::kNotMatchedBySourceUpdate: return "WHEN NOT MATCHED BY SOURCE UPDATE";
    case Kind::kNotMatchedBySourceDelete: return "WHEN NOT MATCHED BY SOURCE DELETE";
  }
  return "";
}

/// Resolves the column references of MERGE expressions to the joined rows' fields: `t.x` (the
/// target alias) to `__t.x`, `s.x` to `__s.x`; an unqualified name to the one side that has it.
class Binder {
 public:
  Binder(const MergeOptions& o, const arrow::Schema& target, const arrow::Schema& source)
      : talias_(Lower(o.target_alias)), salias_(Lower(o.source_alias)), target_(target), source_(source) {}

  /// `allowed` is a mask of sides the expression may reference; `used` receives the sides it does.
  Result<expr::NodePtr> Bind(const expr::NodePtr& node, int allowed, int* used, const std::string& where) const {
    *used = 0;
    return expr::RenameColumns(node, [&](const std::vector<std::string>& path) -> Result<std::vector<std::string>> {
      int side = 0;
      size_t first = 0;
      // A qualifier equal to an alias is the alias, even when a column has that name (as in Spark).
      if (path.size() >= 2 && Lower(path[0]) == talias_) {
        side = kTargetSide;
        first = 1;
      } else if (path.size() >= 2 && Lower(path[0]) == salias_) {
        side = kSourceSide;
        first = 1;
      }
      const std::string& name = path[first];
      int ti = FindColumn(target_, name), si = FindColumn(source_, name);
      if (side == 0) {
        if (ti >= 0 && si >= 0) {
          return Error(ErrorCode::kInvalidArgument, "MERGE: column '", Dotted(path), "' in ", where,
                       " is ambiguous: both the target and the source have it (qualify it as ", talias_, ".",
                       name, " or ", salias_, ".", name, ")");
        }
        side = ti >= 0 ? kTargetSide : si >= 0 ? kSourceSide : 0;
      }
      int idx = side == kTargetSide ? ti : side == kSourceSide ? si : -1;
      if (idx < 0) {
        std::string which = side == kTargetSide ? "the target has no column" : side == kSourceSide
                                                                                 ? "the source has no column"
                                                                                 : "unknown column";
        return Error(ErrorCode::kInvalidArgument, "MERGE: ", which, " '", Dotted(path), "' in ", where);
      }
      if (!(allowed & side)) {
        return Error(ErrorCode::kInvalidArgument, "MERGE: ", where, " may not reference ",
                     side == kTargetSide ? "target" : "source", " column '", Dotted(path), "'");
      }
      *used |= side;
      const auto& field = side == kTargetSide ? target_.field(idx) : source_.field(idx);
      std::vector<std::string> out{(side == kTargetSide ? kTargetPrefix : kSourcePrefix) + field->name()};
      out.insert(out.end(), path.begin() + static_cast<std::ptrdiff_t>(first) + 1, path.end());
      return out;
    });
  }

 private:
  std::string talias_, salias_;
  const arrow::Schema& target_;
  const arrow::Schema& source_;
};

std::shared_ptr<arrow::Schema> Prefixed(const arrow::Schema& schema, const char* prefix) {
  arrow::FieldVector fields;
  for (const auto& f : schema.fields()) fields.push_back(arrow::field(prefix + f->name(), f->type(), f->nullable()));
  return arrow::schema(fields);
}

std::shared_ptr<arrow::RecordBatch> RecordBatchWithSchema(const std::shared_ptr<arrow::RecordBatch>& b,
                                                          const std::shared_ptr<arrow::Schema>& schema) {
  return arrow::RecordBatch::Make(schema, b->num_rows(), b->columns());
}

Result<std::shared_ptr<arrow::Int64Array>> Indices(const std::vector<int64_t>& v) {
  ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateBuffer(static_cast<int64_t>(v.size() * sizeof(int64_t))));
  if (!v.empty()) std::memcpy(buf->mutable_data(), v.data(), v.size() * sizeof(int64_t));
  return std::make_shared<arrow::Int64Array>(static_cast<int64_t>(v.size()), std::move(buf));
}

Result<arrow::ArrayVector> TakeColumns(const std::shared_ptr<arrow::RecordBatch>& batch,
                                       const std::shared_ptr<arrow::Int64Array>& idx) {
  ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(batch, idx));
  return taken.record_batch()->columns();
}

/// The joined rows: target columns (as `__t.*`) next to source columns (as `__s.*`).
Result<std::shared_ptr<arrow::RecordBatch>> JoinRows(const std::shared_ptr<arrow::RecordBatch>& target,
                                                     const std::shared_ptr<arrow::Schema>& target_schema,
                                                     const std::vector<int64_t>& target_rows,
                                                     const std::shared_ptr<arrow::RecordBatch>& source,
                                                     const std::shared_ptr<arrow::Schema>& source_schema,
                                                     const std::vector<int64_t>* source_rows) {
  ARROW_ASSIGN_OR_RAISE(auto ti, Indices(target_rows));
  ARROW_ASSIGN_OR_RAISE(auto cols, TakeColumns(target, ti));
  arrow::FieldVector fields = target_schema->fields();
  for (size_t i = 0; i < cols.size(); ++i) {  // columns left unread are typed NULLs from here on
    const auto& type = fields[i]->type();
    if (cols[i]->type_id() == arrow::Type::NA && type->id() != arrow::Type::NA) {
      ARROW_ASSIGN_OR_RAISE(cols[i], arrow::MakeArrayOfNull(type, cols[i]->length()));
    }
  }
  if (source_rows) {
    ARROW_ASSIGN_OR_RAISE(auto si, Indices(*source_rows));
    ARROW_ASSIGN_OR_RAISE(auto scols, TakeColumns(source, si));
    cols.insert(cols.end(), scols.begin(), scols.end());
    fields.insert(fields.end(), source_schema->fields().begin(), source_schema->fields().end());
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(target_rows.size()), cols);
}

// ---- join keys ----------------------------------------------------------------------------------

/// Key tuples of one side, encoded so that equal SQL values have equal encodings. A row with a
/// NULL in any key never matches (SQL `=`). One integer-like key is kept as int64 (the common
/// case, hashed and compared without allocation); anything else as bytes.
struct EncodedKeys {
  bool fixed = false;
  std::vector<int64_t> ints;
  std::vector<std::string> bytes;
  std::vector<uint64_t> hashes;
  std::vector<uint8_t> valid;
};

uint64_t Mix(uint64_t x) { return MixHash(x); }

bool FixedKeyType(const std::vector<std::shared_ptr<arrow::DataType>>& types) {
  if (types.size() != 1) return false;
  const auto& t = *types[0];
  return arrow::is_integer(t.id()) || t.id() == arrow::Type::DATE32 || t.id() == arrow::Type::DATE64 ||
         t.id() == arrow::Type::TIMESTAMP || t.id() == arrow::Type::TIME32 || t.id() == arrow::Type::TIME64 ||
         t.id() == arrow::Type::DURATION;
}

void AppendValue(const arrow::Array& arr, int64_t i, std::string* out) {
  const auto& type = *arr.type();
  switch (type.id()) {
    case arrow::Type::BOOL:
      out->push_back(static_cast<const arrow::BooleanArray&>(arr).Value(i) ? 1 : 0);
      return;
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      double d = type.id() == arrow::Type::FLOAT ? static_cast<const arrow::FloatArray&>(arr).Value(i)
                                                 : static_cast<const arrow::DoubleArray&>(arr).Value(i);
      if (d == 0) d = 0;                                       // -0.0 = 0.0
      if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();  // NaN = NaN (Spark)
      out->append(reinterpret_cast<const char*>(&d), sizeof d);
      return;
    }
    case arrow::Type::STRING:
    case arrow::Type::BINARY: {
      auto v = static_cast<const arrow::BinaryArray&>(arr).GetView(i);
      uint64_t n = v.size();
      out->append(reinterpret_cast<const char*>(&n), sizeof n);
      out->append(v.data(), v.size());
      return;
    }
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY: {
      auto v = static_cast<const arrow::LargeBinaryArray&>(arr).GetView(i);
      uint64_t n = v.size();
      out->append(reinterpret_cast<const char*>(&n), sizeof n);
      out->append(v.data(), v.size());
      return;
    }
    default:
      break;
  }
  if (arrow::is_fixed_width(type.id())) {
    int w = type.byte_width();
    const auto* base = arr.data()->GetValues<char>(1, 0);
    out->append(base + (arr.offset() + i) * w, static_cast<size_t>(w));
    return;
  }
  // Nested keys: rare; the value's text is an exact, if slow, encoding.
  auto s = arr.GetScalar(i);
  std::string text = s.ok() ? (*s)->ToString() : std::string();
  uint64_t n = text.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof n);
  out->append(text);
}

Result<EncodedKeys> EncodeKeys(const arrow::ArrayVector& keys, int64_t n, bool fixed) {
  EncodedKeys out;
  out.fixed = fixed;
  out.valid.assign(static_cast<size_t>(n), 1);
  out.hashes.resize(static_cast<size_t>(n));
  for (const auto& k : keys) {
    if (k->null_count() == 0) continue;
    for (int64_t i = 0; i < n; ++i) {
      if (k->IsNull(i)) out.valid[static_cast<size_t>(i)] = 0;
    }
  }
  if (fixed) {
    ARROW_ASSIGN_OR_RAISE(auto as_int, arrow::compute::Cast(*keys[0], arrow::int64(),
                                                             arrow::compute::CastOptions::Unsafe(arrow::int64())));
    const auto& a = static_cast<const arrow::Int64Array&>(*as_int);
    out.ints.assign(a.raw_values(), a.raw_values() + n);
    for (int64_t i = 0; i < n; ++i) out.hashes[static_cast<size_t>(i)] = Mix(static_cast<uint64_t>(out.ints[i]));
    return out;
  }
  out.bytes.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!out.valid[static_cast<size_t>(i)]) continue;
    std::string& s = out.bytes[static_cast<size_t>(i)];
    for (const auto& k : keys) AppendValue(*k, i, &s);
    out.hashes[static_cast<size_t>(i)] = Mix(std::hash<std::string>{}(s));
  }
  return out;
}

/// The source side of the hash join: open addressing over chain heads; rows with equal keys are
/// chained. Hand-written because the probe loop is the hot path of MERGE and needs neither
/// allocation per row nor a node-based map.
class JoinTable {
 public:
  explicit JoinTable(EncodedKeys keys) : keys_(std::move(keys)) {
    size_t n = keys_.valid.size();
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{});
    next_.assign(n, 0);
    size_t bits = 512;
    while (bits < 16 * n) bits <<= 1;
    filter_mask_ = bits - 1;
    filter_.assign(bits / 64, 0);
    for (size_t r = 0; r < n; ++r) {
      if (!keys_.valid[r]) continue;
      const uint64_t h = keys_.hashes[r];
      size_t bit = FilterBit(h);
      filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
      size_t i = h & mask_;
      while (true) {
        Slot& s = slots_[i];
        if (s.head == 0) {
          s = Slot{h, static_cast<int64_t>(r) + 1};
          break;
        }
        if (s.hash == h && Equal(keys_, static_cast<size_t>(s.head - 1), r)) {
          next_[r] = s.head;
          s.head = static_cast<int64_t>(r) + 1;
          break;
        }
        i = (i + 1) & mask_;
      }
    }
  }

  /// Appends (probe row, build row) for every key match of the probe rows, in probe row order.
  /// Rows go through in blocks, in stages that each prefetch what the next one reads (filter
  /// word, then slot, then build key), so the cache misses of a block overlap instead of
  /// following one another: with a large build side every stage is a miss to memory.
  void Probe(const EncodedKeys& probe, std::vector<int64_t>* probe_rows, std::vector<int64_t>* build_rows) const {
    constexpr size_t kBlock = 64;
    size_t cand[kBlock];      // probe rows that passed the filter
    int64_t heads[kBlock];    // their chain heads with an equal hash (0: none)
    const size_t n = probe.valid.size();
    for (size_t base = 0; base < n; base += kBlock) {
      const size_t end = std::min(n, base + kBlock);
      for (size_t r = base; r < end; ++r) __builtin_prefetch(&filter_[FilterBit(probe.hashes[r]) >> 6]);
      size_t m = 0;
      for (size_t r = base; r < end; ++r) {
        const size_t bit = FilterBit(probe.hashes[r]);
        const bool maybe = probe.valid[r] && ((filter_[bit >> 6] >> (bit & 63)) & 1);
        cand[m] = r;
        m += maybe ? 1 : 0;  // most rows of a large target match nothing: no branch to mispredict
      }
      for (size_t j = 0; j < m; ++j) __builtin_prefetch(&slots_[probe.hashes[cand[j]] & mask_]);
      for (size_t j = 0; j < m; ++j) {
        const uint64_t h = probe.hashes[cand[j]];
        size_t i = h & mask_;
        heads[j] = 0;
        while (slots_[i].head != 0) {
          if (slots_[i].hash == h) {
            heads[j] = slots_[i].head;
            if (probe.fixed) __builtin_prefetch(&keys_.ints[static_cast<size_t>(heads[j] - 1)]);
            break;
          }
          i = (i + 1) & mask_;
        }
      }
      for (size_t j = 0; j < m; ++j) {
        if (heads[j] == 0) continue;
        const size_t r = cand[j];
        int64_t head = heads[j];
        // Equal hashes are almost always equal keys; a collision takes the slow walk.
        if (!EqualAcross(probe, r, static_cast<size_t>(head - 1))) head = Find(probe, r);
        for (int64_t b = head; b != 0; b = next_[static_cast<size_t>(b - 1)]) {
          probe_rows->push_back(static_cast<int64_t>(r));
          build_rows->push_back(b - 1);
        }
      }
    }
  }

 private:
  /// A chain head (1-based build row; 0 = empty) with its key hash, so a probe compares hashes
  /// in the slot it has already loaded and touches the build keys only on a hash match.
  struct Slot {
    uint64_t hash = 0;
    int64_t head = 0;
  };

  static bool Equal(const EncodedKeys& k, size_t a, size_t b) {
    return k.fixed ? k.ints[a] == k.ints[b] : k.bytes[a] == k.bytes[b];
  }
  bool EqualAcross(const EncodedKeys& probe, size_t p, size_t b) const {
    return probe.fixed ? probe.ints[p] == keys_.ints[b] : probe.bytes[p] == keys_.bytes[b];
  }
  /// The chain head of probe row `r`'s key, 0 when the build side does not have it.
  int64_t Find(const EncodedKeys& probe, size_t r) const {
    const uint64_t h = probe.hashes[r];
    for (size_t i = h & mask_; slots_[i].head != 0; i = (i + 1) & mask_) {
      if (slots_[i].hash == h && EqualAcross(probe, r, static_cast<size_t>(slots_[i].head - 1))) {
        return slots_[i].head;
      }
    }
    return 0;
  }

  // A one-hash Bloom filter over the build keys (16 bits per key, ~6% false positives), small
  // enough to stay in cache: most probe rows of a large target match nothing, and the filter
  // turns their misses in the table into one bit test.
  size_t FilterBit(uint64_t hash) const { return static_cast<size_t>(hash >> 32) & filter_mask_; }

  EncodedKeys keys_;
  std::vector<uint64_t> filter_;
  size_t filter_mask_ = 0;
  size_t mask_ = 0;
  std::vector<Slot> slots_;
  std::vector<int64_t> next_;
};

// ---- the plan -----------------------------------------------------------------------------------

struct BoundClause {
  Kind kind;
  expr::NodePtr predicate;                                   // bound; null = always
  std::vector<std::pair<int, expr::NodePtr>> assignments;    // target column index -> bound expr
};

struct KeyPair {
  expr::NodePtr target, source;             // bound
  std::optional<std::string> target_column; // when the target side is a plain top-level column
  std::string text;                         // for error messages
};

struct Plan {
  std::shared_ptr<arrow::Schema> table_schema;   // after schema evolution
  std::shared_ptr<arrow::Schema> target_joined;  // Prefixed(table_schema, __t.)
  std::shared_ptr<arrow::Schema> source_joined;  // Prefixed(source, __s.)
  std::vector<KeyPair> keys;
  std::vector<std::shared_ptr<arrow::DataType>> key_types;
  bool fixed_keys = false;
  expr::NodePtr residual;                         // bound, over joined rows
  std::vector<expr::NodePtr> target_only;         // unqualified target conjuncts, for pruning
  std::vector<BoundClause> matched, not_matched, by_source;
  bool check_duplicates = false;
};

Result<std::shared_ptr<arrow::Array>> EvaluateAs(const expr::NodePtr& e, const std::shared_ptr<arrow::RecordBatch>& rows,
                                                 const std::shared_ptr<arrow::Field>& target, const char* what) {
  ARROW_ASSIGN_OR_RAISE(auto arr, expr::Evaluate(e, rows));
  if (arr->type()->Equals(*target->type())) return arr;
  auto casted = arrow::compute::Cast(*arr, target->type());
  if (!casted.ok()) {
    return Error(ErrorCode::kSchemaMismatch, "MERGE ", what, " sets column '", target->name(), "' (",
                 target->type()->ToString(), ") to a value of type ", arr->type()->ToString(), ": ",
                 casted.status().message());
  }
  return *casted;
}

/// The rows a clause produces, in the table schema: assigned columns evaluated over `rows`, the
/// others taken from the target (updates) or NULL (inserts).
Result<std::shared_ptr<arrow::RecordBatch>> ClauseOutput(const Plan& plan, const BoundClause& c,
                                                         const std::shared_ptr<arrow::RecordBatch>& rows) {
  const auto& schema = plan.table_schema;
  arrow::ArrayVector cols(static_cast<size_t>(schema->num_fields()));
  bool insert = c.kind == Kind::kNotMatchedInsert;
  for (int i = 0; i < schema->num_fields(); ++i) {
    if (insert) {
      ARROW_ASSIGN_OR_RAISE(cols[i], arrow::MakeArrayOfNull(schema->field(i)->type(), rows->num_rows()));
    } else {
      cols[i] = rows->column(i);  // the joined rows start with the target columns, in order
    }
  }
  for (const auto& [i, e] : c.assignments) {
    ARROW_ASSIGN_OR_RAISE(cols[i], EvaluateAs(e, rows, schema->field(i), ClauseName(c.kind)));
  }
  arrow::FieldVector plain;
  for (const auto& f : schema->fields()) plain.push_back(f->WithMetadata(nullptr));
  return arrow::RecordBatch::Make(arrow::schema(plain), rows->num_rows(), cols);
}

/// Evaluates clauses in order over `rows`: the index of the first clause whose predicate is
/// TRUE for each row, or -1.
Result<std::vector<int>> ChooseClauses(const std::vector<BoundClause>& clauses,
                                       const std::shared_ptr<arrow::RecordBatch>& rows) {
  std::vector<int> chosen(static_cast<size_t>(rows->num_rows()), -1);
  int64_t open = rows->num_rows();
  for (size_t c = 0; c < clauses.size() && open > 0; ++c) {
    if (!clauses[c].predicate) {
      for (auto& x : chosen) {
        if (x < 0) x = static_cast<int>(c);
      }
      break;
    }
    ARROW_ASSIGN_OR_RAISE(auto mask, internal::EvaluatePredicate(clauses[c].predicate, rows));
    for (int64_t r = 0; r < rows->num_rows(); ++r) {
      if (chosen[static_cast<size_t>(r)] < 0 && mask->Value(r)) {
        chosen[static_cast<size_t>(r)] = static_cast<int>(c);
        --open;
      }
    }
  }
  return chosen;
}

/// Rows of `rows` whose chosen clause is `c`.
std::vector<int64_t> RowsOf(const std::vector<int>& chosen, int c) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < chosen.size(); ++i) {
    if (chosen[i] == c) out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

Result<std::shared_ptr<arrow::RecordBatch>> TakeRows(const std::shared_ptr<arrow::RecordBatch>& b,
                                                     const std::vector<int64_t>& rows) {
  ARROW_ASSIGN_OR_RAISE(auto idx, Indices(rows));
  ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(b, idx));
  return taken.record_batch();
}

Result<Plan> MakePlan(const table::Snapshot& snap, const arrow::Schema& source_schema, const MergeOptions& o,
                      table::Metadata* metadata, bool* schema_changed) {
  Plan plan;
  *schema_changed = false;
  plan.table_schema = snap.schema();
  bool any_all = false;
  for (const auto& c : o.clauses) any_all |= c.all;
  if (o.schema_mode == table::SchemaMode::kMerge && any_all) {
    // Source columns the target lacks are added (PROTOCOL-level: a metaData action).
    arrow::FieldVector extra;
    for (const auto& f : source_schema.fields()) {
      if (FindColumn(*snap.schema(), f->name()) < 0) extra.push_back(f->WithNullable(true));
    }
    if (!extra.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto merged,
                            table::ReconcileSchema(*snap.schema(), arrow::Schema(extra), table::SchemaMode::kMerge));
      merged = internal::KeepFieldMetadata(*snap.schema(), *merged);
      if (snap.column_mapping_mode() != table::ColumnMappingMode::kNone) {
        ARROW_ASSIGN_OR_RAISE(merged, internal::AssignColumnMapping(*merged, &metadata->configuration));
      }
      ARROW_ASSIGN_OR_RAISE(metadata->schema_string, table::SchemaToJson(*merged));
      plan.table_schema = merged;
      *schema_changed = true;
    }
  } else if (o.schema_mode == table::SchemaMode::kOverwrite) {
    return Error(ErrorCode::kInvalidArgument, "MERGE supports schema_mode \"merge\" only");
  }
  const auto& ts = *plan.table_schema;
  plan.target_joined = Prefixed(ts, kTargetPrefix);
  plan.source_joined = Prefixed(source_schema, kSourcePrefix);
  arrow::FieldVector joined_fields = plan.target_joined->fields();
  joined_fields.insert(joined_fields.end(), plan.source_joined->fields().begin(), plan.source_joined->fields().end());
  auto joined = arrow::schema(joined_fields);
  Binder binder(o, ts, source_schema);

  // ON: equalities between a target-only and a source-only expression are join keys; the rest
  // filters the joined pairs.
  if (o.on.empty()) return Error(ErrorCode::kInvalidArgument, "MERGE needs an ON condition");
  ARROW_ASSIGN_OR_RAISE(auto on, expr::Parse(o.on));
  std::vector<expr::NodePtr> residual;
  for (const auto& term : expr::Conjuncts(on)) {
    int used = 0;
    ARROW_ASSIGN_OR_RAISE(auto bound, binder.Bind(term, kTargetSide | kSourceSide, &used, "the ON condition"));
    ARROW_RETURN_NOT_OK(WithContext(expr::ToArrow(bound, *joined).status(), "MERGE ON condition"));
    if (auto eq = expr::EqualityOperands(term)) {
      int lu = 0, ru = 0;
      ARROW_ASSIGN_OR_RAISE(auto l, binder.Bind(eq->first, kTargetSide | kSourceSide, &lu, "the ON condition"));
      ARROW_ASSIGN_OR_RAISE(auto r, binder.Bind(eq->second, kTargetSide | kSourceSide, &ru, "the ON condition"));
      if ((lu == kTargetSide && ru == kSourceSide) || (lu == kSourceSide && ru == kTargetSide)) {
        KeyPair k;
        k.target = lu == kTargetSide ? l : r;
        k.source = lu == kTargetSide ? r : l;
        auto path = expr::ColumnPath(k.target);
        if (path && path->size() == 1) k.target_column = path->front().substr(std::strlen(kTargetPrefix));
        k.text = expr::ToString(lu == kTargetSide ? eq->first : eq->second);
        plan.keys.push_back(std::move(k));
        continue;
      }
    }
    residual.push_back(bound);
    if (used == kTargetSide) {
      int u = 0;
      ARROW_ASSIGN_OR_RAISE(auto unq, binder.Bind(term, kTargetSide, &u, "the ON condition"));
      ARROW_ASSIGN_OR_RAISE(unq, expr::RenameColumns(unq, [](const std::vector<std::string>& p)
                                                               -> Result<std::vector<std::string>> {
        auto out = p;
        out[0] = out[0].substr(std::strlen(kTargetPrefix));
        return out;
      }));
      plan.target_only.push_back(unq);
    }
  }
  plan.residual = expr::AndOf(residual);
  for (auto& k : plan.keys) {
    ARROW_ASSIGN_OR_RAISE(auto te, expr::ToArrow(k.target, *plan.target_joined));
    ARROW_ASSIGN_OR_RAISE(te, te.Bind(*plan.target_joined));
    plan.key_types.push_back(te.type()->GetSharedPtr());
  }
  plan.fixed_keys = FixedKeyType(plan.key_types);

  // Clauses.
  bool has_delete_only = true;
  int matched = 0;
  for (const auto& c : o.clauses) {
    BoundClause b;
    b.kind = c.kind;
    bool is_matched = c.kind == Kind::kMatchedUpdate || c.kind == Kind::kMatchedDelete;
    bool by_source = c.kind == Kind::kNotMatchedBySourceUpdate || c.kind == Kind::kNotMatchedBySourceDelete;
    int allowed = is_matched ? (kTargetSide | kSourceSide) : by_source ? kTargetSide : kSourceSide;
    std::string where = std::string("a ") + ClauseName(c.kind) + " clause";
    auto& rows_schema = is_matched ? joined : by_source ? plan.target_joined : plan.source_joined;
    if (!c.predicate.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto p, expr::Parse(c.predicate));
      int used = 0;
      ARROW_ASSIGN_OR_RAISE(b.predicate, binder.Bind(p, allowed, &used, where));
      ARROW_RETURN_NOT_OK(WithContext(expr::ToArrow(b.predicate, *rows_schema).status(), where));
    }
    if (c.kind == Kind::kMatchedUpdate || c.kind == Kind::kNotMatchedBySourceUpdate ||
        c.kind == Kind::kNotMatchedInsert) {
      std::map<std::string, std::string> assignments = c.assignments;
      if (c.all) {
        if (by_source) return Error(ErrorCode::kInvalidArgument, "MERGE: ", where, " cannot take every source column");
        assignments.clear();
        for (const auto& f : ts.fields()) {
          int si = FindColumn(source_schema, f->name());
          if (si >= 0) {
            assignments[f->name()] = "`" + o.source_alias + "`.`" + source_schema.field(si)->name() + "`";
          } else if (o.schema_mode != table::SchemaMode::kMerge) {
            // As Delta: without schema evolution, * needs every target column in the source.
            return Error(ErrorCode::kSchemaMismatch, "MERGE: ", where, " (*) needs every target column in the "
                         "source, and the source has no column '", f->name(), "' (name it in explicit "
                         "assignments, or use schema_mode=\"merge\" to keep it unchanged on update and NULL on insert)");
          }
        }
      } else if (assignments.empty()) {
        return Error(ErrorCode::kInvalidArgument, "MERGE: ", where, " assigns no columns");
      }
      for (const auto& [col, sql] : assignments) {
        std::string name = col;
        // A target column may be written qualified (t.v) or not (v).
        auto dot = col.find('.');
        if (dot != std::string::npos && Lower(col.substr(0, dot)) == Lower(o.target_alias)) name = col.substr(dot + 1);
        int ti = FindColumn(ts, name);
        if (ti < 0) {
          return Error(ErrorCode::kInvalidArgument, "MERGE: ", where, " sets unknown target column '", col, "'");
        }
        ARROW_ASSIGN_OR_RAISE(auto e, expr::Parse(sql));
        int used = 0;
        ARROW_ASSIGN_OR_RAISE(auto bound, binder.Bind(e, allowed, &used, where + " (" + col + ")"));
        ARROW_RETURN_NOT_OK(WithContext(expr::ToArrow(bound, *rows_schema).status(), where + " (" + col + ")"));
        b.assignments.emplace_back(ti, bound);
      }
    }
    if (is_matched) {
      ++matched;
      has_delete_only &= c.kind == Kind::kMatchedDelete && c.predicate.empty();
      plan.matched.push_back(std::move(b));
    } else if (by_source) {
      plan.by_source.push_back(std::move(b));
    } else {
      plan.not_matched.push_back(std::move(b));
    }
  }
  // Delta: a target row matched by several source rows is ambiguous, except when the only
  // matched action is an unconditional delete.
  plan.check_duplicates = matched > 0 && !(matched == 1 && has_delete_only);
  return plan;
}

Result<bool> ScalarLess(const std::shared_ptr<arrow::Scalar>& a, const std::shared_ptr<arrow::Scalar>& b) {
  ARROW_ASSIGN_OR_RAISE(auto r, arrow::compute::CallFunction("less", {a, b}));
  const auto& s = static_cast<const arrow::BooleanScalar&>(*r.scalar());
  return s.is_valid && s.value;
}

/// Key ranges of the source (per plain-column key), for skipping target files.
struct KeyRange {
  std::string column;
  std::shared_ptr<arrow::Scalar> min, max;
};

/// The source's partitions for a partitioned join: one Arrow IPC file per partition in a private
/// temporary directory, removed when this goes away.
class SpillFiles {
 public:
  static Result<SpillFiles> Open(const std::shared_ptr<arrow::Schema>& schema, int parts) {
    SpillFiles s;
    s.schema_ = schema;
    std::error_code ec;
    s.dir_ = std::filesystem::temp_directory_path(ec) / ("strata-merge-" + table::NewUuid());
    std::filesystem::create_directories(s.dir_, ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "MERGE: cannot create spill directory ", s.dir_.string(), ": ",
                         ec.message());
    for (int p = 0; p < parts; ++p) {
      ARROW_ASSIGN_OR_RAISE(auto out, arrow::io::FileOutputStream::Open(s.Path(p)));
      ARROW_ASSIGN_OR_RAISE(auto w, arrow::ipc::MakeFileWriter(out, schema));
      s.outs_.push_back(out);
      s.writers_.push_back(w);
    }
    return s;
  }
  SpillFiles() = default;
  SpillFiles(SpillFiles&&) = default;
  SpillFiles& operator=(SpillFiles&&) = default;
  ~SpillFiles() {
    for (auto& w : writers_) {
      if (w) (void)w->Close();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  Status Write(int part, const std::shared_ptr<arrow::RecordBatch>& b) { return writers_[part]->WriteRecordBatch(*b); }
  /// All rows of one partition (closes its writer).
  Result<std::shared_ptr<arrow::RecordBatch>> Read(int part) {
    ARROW_RETURN_NOT_OK(writers_[part]->Close());
    writers_[part] = nullptr;
    ARROW_RETURN_NOT_OK(outs_[part]->Close());
    ARROW_ASSIGN_OR_RAISE(auto in, arrow::io::ReadableFile::Open(Path(part)));
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(in));
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    for (int i = 0; i < reader->num_record_batches(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto b, reader->ReadRecordBatch(i));
      batches.push_back(b);
    }
    ARROW_ASSIGN_OR_RAISE(auto t, arrow::Table::FromRecordBatches(schema_, batches));
    return t->CombineChunksToBatch();
  }

 private:
  std::string Path(int p) const { return (dir_ / ("part-" + std::to_string(p) + ".arrow")).string(); }
  std::shared_ptr<arrow::Schema> schema_;
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<arrow::io::FileOutputStream>> outs_;
  std::vector<std::shared_ptr<arrow::ipc::RecordBatchWriter>> writers_;
};

Result<MergeResult> MergeRun(std::shared_ptr<storage::ObjectStore> store,
                             std::shared_ptr<arrow::RecordBatchReader> source, const MergeOptions& options,
                             RunTracker& run) {
  auto t0 = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store));
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                           "cannot MERGE into '" + store->root() + "'");
  bool modifies = false;
  for (const auto& c : options.clauses) modifies |= c.kind != Kind::kNotMatchedInsert;
  if (modifies && snap->Property("delta.appendOnly") == "true") {
    return Error(ErrorCode::kInvalidArgument, "table '", store->root(),
                 "' is append-only (delta.appendOnly=true): MERGE may only insert");
  }
  if (options.clauses.empty()) return Error(ErrorCode::kInvalidArgument, "MERGE needs at least one WHEN clause");

  table::Metadata metadata = snap->metadata();
  bool schema_changed = false;
  ARROW_ASSIGN_OR_RAISE(auto plan, MakePlan(*snap, *source->schema(), options, &metadata, &schema_changed));
  run.SetTableProperties(metadata.configuration);

  bool table_dv = HasWriterFeature(snap->protocol(), "deletionVectors");
  bool use_dv = options.use_deletion_vectors.value_or(snap->Property("delta.enableDeletionVectors") == "true");
  if (use_dv && !table_dv) {
    return Error(ErrorCode::kInvalidArgument, "table '", store->root(),
                 "' does not support deletion vectors; set delta.enableDeletionVectors=true when creating it");
  }
  ARROW_ASSIGN_OR_RAISE(auto checks, internal::CollectChecks(*plan.table_schema, metadata.configuration));
  internal::ChangeData cdf(*snap);
  MergeResult result;

  // The source's join keys, cast to the target keys' types.
  auto keys_of = [&](const std::shared_ptr<arrow::RecordBatch>& rows) -> Result<arrow::ArrayVector> {
    arrow::ArrayVector out;
    for (size_t k = 0; k < plan.keys.size(); ++k) {
      ARROW_ASSIGN_OR_RAISE(auto arr, expr::Evaluate(plan.keys[k].source, rows));
      if (!arr->type()->Equals(*plan.key_types[k])) {
        auto casted = arrow::compute::Cast(*arr, plan.key_types[k]);
        if (!casted.ok()) {
          return Error(ErrorCode::kSchemaMismatch, "MERGE: the source side of '", plan.keys[k].text, "' has type ",
                       arr->type()->ToString(), ", which does not compare with the target's ",
                       plan.key_types[k]->ToString());
        }
        arr = *casted;
      }
      out.push_back(arr);
    }
    return out;
  };

  // Read the source. While it fits under the broadcast limit it stays in memory (one pass, a
  // broadcast hash join); past it, rows are spilled to `partitions` files by key hash and the
  // join runs once per partition (target files are then read once per pass and rewritten at
  // the end), so memory holds one partition of the source at a time.
  const int parts = plan.keys.empty() ? 1 : std::max(2, options.join_partitions);
  std::vector<KeyRange> ranges;
  for (const auto& k : plan.keys) {
    if (k.target_column) ranges.push_back({*k.target_column, nullptr, nullptr});
  }
  auto widen_ranges = [&](const arrow::ArrayVector& keys) -> Status {
    size_t r = 0;
    for (size_t k = 0; k < plan.keys.size(); ++k) {
      if (!plan.keys[k].target_column) continue;
      auto& range = ranges[r++];
      ARROW_ASSIGN_OR_RAISE(auto mm, arrow::compute::MinMax(keys[k]));
      const auto& st = static_cast<const arrow::StructScalar&>(*mm.scalar());
      if (!st.value[0]->is_valid) continue;
      if (!range.min) {
        range.min = st.value[0];
        range.max = st.value[1];
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(bool lower, ScalarLess(st.value[0], range.min));
      if (lower) range.min = st.value[0];
      ARROW_ASSIGN_OR_RAISE(bool higher, ScalarLess(range.max, st.value[1]));
      if (higher) range.max = st.value[1];
    }
    return Status::OK();
  };
  auto partition_of = [&](const EncodedKeys& enc, size_t row) {
    return enc.valid[row] ? static_cast<int>((enc.hashes[row] >> 40) % static_cast<uint64_t>(parts)) : 0;
  };
  std::vector<std::shared_ptr<arrow::RecordBatch>> in_memory;
  int64_t in_memory_bytes = 0;
  std::optional<SpillFiles> spill;
  auto spill_batch = [&](const std::shared_ptr<arrow::RecordBatch>& raw) -> Status {
    auto rows = RecordBatchWithSchema(raw, plan.source_joined);
    ARROW_ASSIGN_OR_RAISE(auto keys, keys_of(rows));
    ARROW_RETURN_NOT_OK(widen_ranges(keys));
    ARROW_ASSIGN_OR_RAISE(auto enc, EncodeKeys(keys, rows->num_rows(), plan.fixed_keys));
    std::vector<std::vector<int64_t>> by_part(static_cast<size_t>(parts));
    for (int64_t i = 0; i < rows->num_rows(); ++i) by_part[partition_of(enc, i)].push_back(i);
    for (int p = 0; p < parts; ++p) {
      if (by_part[p].empty()) continue;
      ARROW_ASSIGN_OR_RAISE(auto sub, TakeRows(raw, by_part[p]));
      ARROW_RETURN_NOT_OK(spill->Write(p, sub));
    }
    return Status::OK();
  };
  while (true) {
    std::shared_ptr<arrow::RecordBatch> b;
    ARROW_RETURN_NOT_OK(source->ReadNext(&b));
    if (!b) break;
    if (b->num_rows() == 0) continue;
    result.num_source_rows += b->num_rows();
    if (spill) {
      ARROW_RETURN_NOT_OK(spill_batch(b));
      continue;
    }
    in_memory_bytes += arrow::util::TotalBufferSize(*b);
    in_memory.push_back(b);
    if (!plan.keys.empty() && in_memory_bytes > options.broadcast_limit_bytes) {
      ARROW_ASSIGN_OR_RAISE(auto files, SpillFiles::Open(source->schema(), parts));
      spill.emplace(std::move(files));
      for (const auto& m : in_memory) ARROW_RETURN_NOT_OK(spill_batch(m));
      in_memory.clear();
    }
  }
  const int passes = spill ? parts : 1;
  result.join = spill ? "partitioned" : "broadcast";
  // The build side of a pass: all of the source (broadcast, built once here) or one spilled
  // partition (built at the start of its pass).
  std::shared_ptr<arrow::RecordBatch> source_rows;
  std::optional<JoinTable> join;
  auto build = [&](const std::shared_ptr<arrow::RecordBatch>& raw, bool with_ranges) -> Status {
    source_rows = RecordBatchWithSchema(raw, plan.source_joined);
    join.reset();
    if (plan.keys.empty()) return Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto keys, keys_of(source_rows));
    if (with_ranges) ARROW_RETURN_NOT_OK(widen_ranges(keys));
    ARROW_ASSIGN_OR_RAISE(auto enc, EncodeKeys(keys, source_rows->num_rows(), plan.fixed_keys));
    join.emplace(std::move(enc));
    return Status::OK();
  };
  if (!spill) {
    ARROW_ASSIGN_OR_RAISE(auto t, arrow::Table::FromRecordBatches(source->schema(), in_memory));
    in_memory.clear();
    ARROW_ASSIGN_OR_RAISE(auto all, t->CombineChunksToBatch());
    ARROW_RETURN_NOT_OK(build(all, /*with_ranges=*/true));
  }
  const int64_t total_source = result.num_source_rows;
  run.event().rows_in = total_source;
  auto target_only = expr::AndOf(plan.target_only);
  bool prune = plan.by_source.empty();

  auto file_may_match = [&](const AddFile& f) -> Result<bool> {
    if (!prune) return true;
    if (total_source == 0) return false;
    if (target_only && !table::FileMayMatch(target_only, f, *snap)) return false;
    if (ranges.empty()) return true;
    table::AddFileStats stats(f, *snap);
    for (const auto& r : ranges) {
      if (!r.min || !r.min->is_valid) return false;  // every source key is NULL: nothing matches
      auto cs = stats.column(r.column);
      if (!cs) continue;
      if (cs->max && cs->max->is_valid && cs->max->type->Equals(*r.min->type)) {
        ARROW_ASSIGN_OR_RAISE(bool below, ScalarLess(cs->max, r.min));
        if (below) return false;
      }
      if (cs->min && cs->min->is_valid && cs->min->type->Equals(*r.max->type)) {
        ARROW_ASSIGN_OR_RAISE(bool above, ScalarLess(r.max, cs->min));
        if (above) return false;
      }
    }
    return true;
  };

  FileWriteSpec spec;
  spec.table_schema = plan.table_schema;
  spec.partition_columns = snap->partition_columns();
  spec.mapping = snap->column_mapping_mode();
  spec.compression = snap->Property("delta.parquet.compression.codec", "snappy");

  table::Commit commit;
  commit.read_snapshot = snap;
  commit.operation = "MERGE";
  commit.read_scope = table::Commit::ReadScope::kAll;
  int64_t now = table::NowMs();
  std::vector<uint8_t> source_matched;

  // What one target file contributes to the commit. Files are processed on several threads;
  // their outcomes are applied in file order, so the commit is the same as a serial run's.
  struct Outcome {
    std::vector<table::Action> actions;
    int64_t updates = 0, deletes = 0, copied = 0, files_added = 0, files_removed = 0, dvs_added = 0;
    std::vector<int64_t> matched_source;  // source rows some target row of the file matched
    std::vector<std::pair<std::shared_ptr<arrow::RecordBatch>, internal::ChangeType>> changes;
    roaring::Roaring64Map changed;        // partitioned join: rows to replace after the last pass
    int64_t live = 0;
    bool touched = false;
  };

  ARROW_ASSIGN_OR_RAISE(auto validator, ValidatorFor(store, *snap));
  std::mutex new_rows_mu;
  std::vector<std::shared_ptr<arrow::RecordBatch>> new_rows;
  // The newest event time among the new rows (run monitoring), folded in as they are written.
  const std::string event_column =
      run.active() ? EventTimeColumn(store, metadata.configuration, *plan.table_schema) : std::string();
  std::optional<int64_t> newest_event;
  // Writes `batches`, of which the first `copies` are unchanged rows copied from a rewritten
  // file; the others are new (updates' new images, inserts) and are kept for the validator,
  // which sees all of them before the commit (files written meanwhile are not yet published).
  auto write_now = [&](std::vector<std::shared_ptr<arrow::RecordBatch>> batches, Outcome* out,
                       size_t copies = 0) -> Status {
    std::vector<std::shared_ptr<arrow::RecordBatch>> conformed, fresh;
    for (size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      if (b->num_rows() == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto c, internal::ConformBatch(*b, plan.table_schema));
      ARROW_RETURN_NOT_OK(internal::RunChecks(checks, c));
      if ((validator || !event_column.empty()) && i >= copies) fresh.push_back(c);
      conformed.push_back(std::move(c));
    }
    if (conformed.empty()) return Status::OK();
    if (!fresh.empty()) {
      auto newest = NewestEventMicros(fresh, event_column);
      std::lock_guard<std::mutex> lock(new_rows_mu);
      if (newest && (!newest_event || *newest > *newest_event)) newest_event = newest;
      if (validator) new_rows.insert(new_rows.end(), fresh.begin(), fresh.end());
    }
    ARROW_ASSIGN_OR_RAISE(auto adds, WriteDataFiles(*store, spec, conformed));
    for (auto& a : adds) {
      out->actions.push_back(std::move(a));
      ++out->files_added;
    }
    return Status::OK();
  };

  // Target columns to read. Copy-on-write rewrites whole rows and the change feed records whole
  // pre-images, so both read every column; with deletion vectors only the columns that the keys,
  // conditions and assignments reference, and those an update keeps from the target, are read
  // (an unconditional update of every column reads the keys alone). Unread columns are
  // NullArray placeholders in the batches and are never evaluated or written.
  std::vector<std::string> read_columns;  // empty: all
  if (use_dv && !cdf.enabled() && !schema_changed) {
    std::set<std::string> need;
    const std::string tp = kTargetPrefix;
    auto collect = [&](const expr::NodePtr& e) -> Status {
      if (!e) return Status::OK();
      return expr::RenameColumns(e, [&](const std::vector<std::string>& path) -> Result<std::vector<std::string>> {
               if (path[0].compare(0, tp.size(), tp) == 0) need.insert(path[0].substr(tp.size()));
               return path;
             }).status();
    };
    for (const auto& k : plan.keys) ARROW_RETURN_NOT_OK(collect(k.target));
    ARROW_RETURN_NOT_OK(collect(plan.residual));
    for (const auto* clauses : {&plan.matched, &plan.by_source}) {
      for (const auto& c : *clauses) {
        ARROW_RETURN_NOT_OK(collect(c.predicate));
        std::vector<bool> assigned(static_cast<size_t>(plan.table_schema->num_fields()), false);
        for (const auto& [i, e] : c.assignments) {
          ARROW_RETURN_NOT_OK(collect(e));
          assigned[static_cast<size_t>(i)] = true;
        }
        if (c.kind == Kind::kMatchedDelete || c.kind == Kind::kNotMatchedBySourceDelete) continue;
        for (int i = 0; i < plan.table_schema->num_fields(); ++i) {
          if (!assigned[static_cast<size_t>(i)]) need.insert(plan.table_schema->field(i)->name());
        }
      }
    }
    if (!need.empty() && static_cast<int>(need.size()) < plan.table_schema->num_fields()) {
      for (const auto& f : plan.table_schema->fields()) {
        if (need.count(f->name())) read_columns.push_back(f->name());
      }
    }
  }

  // A file's live rows, batch by batch, in the merged schema, with their row indices.
  struct TargetBatch {
    std::shared_ptr<arrow::RecordBatch> rows;
    std::shared_ptr<arrow::Int64Array> row_index;
  };
  auto read_target = [&](const AddFile& f) -> Result<std::vector<TargetBatch>> {
    exec::ScanOptions so;
    so.with_row_ids = true;
    so.columns = read_columns;
    so.row_group_parallelism = 0;  // one per core
    ARROW_ASSIGN_OR_RAISE(auto batches, exec::ReadFile(*snap, f, so));
    std::vector<TargetBatch> out;
    for (auto& b : batches) {
      if (b->num_rows() == 0) continue;
      TargetBatch tb;
      tb.row_index = std::static_pointer_cast<arrow::Int64Array>(b->GetColumnByName(exec::kRowIndexColumn));
      if (read_columns.empty()) {
        ARROW_ASSIGN_OR_RAISE(b, b->RemoveColumn(b->schema()->GetFieldIndex(exec::kRowIndexColumn)));
        if (schema_changed) {
          ARROW_ASSIGN_OR_RAISE(b, internal::ConformBatch(*b, plan.table_schema));
        }
        tb.rows = std::move(b);
      } else {
        arrow::ArrayVector cols;
        for (const auto& field : plan.table_schema->fields()) {
          auto col = b->GetColumnByName(field->name());
          cols.push_back(col ? col : std::make_shared<arrow::NullArray>(b->num_rows()));
        }
        tb.rows = arrow::RecordBatch::Make(plan.table_schema, b->num_rows(), std::move(cols));
      }
      out.push_back(std::move(tb));
    }
    return out;
  };
  // Replaces a changed file: a deletion vector marking its changed rows, or (copy-on-write) a
  // rewrite of its unchanged rows (`kept`, or re-read when `reread`) written with `more`.
  auto finalize = [&](const AddFile& f, const roaring::Roaring64Map& changed, int64_t live,
                      std::vector<std::shared_ptr<arrow::RecordBatch>> kept, bool reread,
                      std::vector<std::shared_ptr<arrow::RecordBatch>> more, Outcome* out) -> Status {
    out->actions.push_back(table::RemoveFor(f, now));
    if (use_dv) {
      ARROW_RETURN_NOT_OK(write_now(std::move(more), out));
      if (static_cast<int64_t>(changed.cardinality()) >= live) {
        ++out->files_removed;
        return Status::OK();
      }
      ARROW_ASSIGN_OR_RAISE(auto kept_file, internal::MarkRowsDeleted(f, changed, *store, now));
      out->actions.push_back(std::move(kept_file));
      ++out->dvs_added;
      return Status::OK();
    }
    ++out->files_removed;
    if (reread) {
      ARROW_ASSIGN_OR_RAISE(auto batches, read_target(f));
      for (const auto& tb : batches) {
        std::vector<int64_t> keep;
        for (int64_t t = 0; t < tb.rows->num_rows(); ++t) {
          if (!changed.contains(static_cast<uint64_t>(tb.row_index->Value(t)))) keep.push_back(t);
        }
        if (static_cast<int64_t>(keep.size()) == tb.rows->num_rows()) {
          kept.push_back(tb.rows);
        } else if (!keep.empty()) {
          ARROW_ASSIGN_OR_RAISE(auto k, TakeRows(tb.rows, keep));
          kept.push_back(std::move(k));
        }
      }
    }
    for (const auto& k : kept) out->copied += k->num_rows();
    size_t copies = kept.size();
    more.insert(more.begin(), kept.begin(), kept.end());
    return write_now(std::move(more), out, copies);
  };
  std::map<size_t, Outcome> touched;  // partitioned join: files to finalize after every pass
  std::vector<const AddFile*> candidates;
  for (const auto& f : snap->files()) {
    ARROW_ASSIGN_OR_RAISE(bool may, file_may_match(f));
    if (may) {
      candidates.push_back(&f);
      commit.read_files.insert(table::FileKey(f.path, f.deletion_vector));
    } else {
      ++result.files_skipped;
    }
  }

  // One target file in one pass: probe its rows, decide each (unchanged, deleted, updated), and
  // write its replacement. Reads only shared state that the passes do not change meanwhile.
  auto process_file = [&](size_t fi, int pass) -> Result<Outcome> {
    const AddFile& f = *candidates[fi];
    Outcome out;
    ARROW_ASSIGN_OR_RAISE(auto batches, read_target(f));
    const int64_t ns = source_rows->num_rows();
    std::vector<std::shared_ptr<arrow::RecordBatch>> kept, updated;
    roaring::Roaring64Map changed_rows;
    for (auto& tbatch : batches) {
      auto file_batch = tbatch.rows;
      auto row_index = tbatch.row_index;
      out.live += file_batch->num_rows();
      const int64_t batch_live = file_batch->num_rows();
      auto target_rows = RecordBatchWithSchema(file_batch, plan.target_joined);
      std::optional<EncodedKeys> tenc;
      if (join) {
        arrow::ArrayVector tkeys;
        for (const auto& k : plan.keys) {
          ARROW_ASSIGN_OR_RAISE(auto arr, expr::Evaluate(k.target, target_rows));
          tkeys.push_back(arr);
        }
        ARROW_ASSIGN_OR_RAISE(tenc, EncodeKeys(tkeys, batch_live, plan.fixed_keys));
      }
      if (passes > 1) {  // this pass sees the target rows of its partition only
        std::vector<int64_t> mine;
        for (int64_t t = 0; t < batch_live; ++t) {
          if (partition_of(*tenc, static_cast<size_t>(t)) == pass) mine.push_back(t);
        }
        if (mine.empty()) continue;
        ARROW_ASSIGN_OR_RAISE(file_batch, TakeRows(file_batch, mine));
        ARROW_ASSIGN_OR_RAISE(auto idx, Indices(mine));
        ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(row_index, idx));
        row_index = std::static_pointer_cast<arrow::Int64Array>(taken.make_array());
        target_rows = RecordBatchWithSchema(file_batch, plan.target_joined);
        EncodedKeys sub;
        sub.fixed = tenc->fixed;
        for (int64_t t : mine) {
          auto u = static_cast<size_t>(t);
          sub.valid.push_back(tenc->valid[u]);
          sub.hashes.push_back(tenc->hashes[u]);
          if (sub.fixed) sub.ints.push_back(tenc->ints[u]); else sub.bytes.push_back(tenc->bytes[u]);
        }
        tenc = std::move(sub);
      }
      int64_t nt = target_rows->num_rows();

      // Probe.
      std::vector<int64_t> pt, ps;
      if (join) {
        join->Probe(*tenc, &pt, &ps);
      } else {  // no equality in ON: every pair is a candidate
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t s = 0; s < ns; ++s) {
            pt.push_back(t);
            ps.push_back(s);
          }
        }
      }
      std::shared_ptr<arrow::RecordBatch> pairs;
      if (!pt.empty()) {
        ARROW_ASSIGN_OR_RAISE(pairs, JoinRows(target_rows, plan.target_joined, pt, source_rows, plan.source_joined, &ps));
        if (plan.residual) {
          ARROW_ASSIGN_OR_RAISE(auto mask, internal::EvaluatePredicate(plan.residual, pairs));
          if (mask->true_count() < mask->length()) {
            std::vector<int64_t> keep;
            for (int64_t i = 0; i < mask->length(); ++i) {
              if (mask->Value(i)) keep.push_back(i);
            }
            std::vector<int64_t> pt2, ps2;
            for (int64_t i : keep) {
              pt2.push_back(pt[static_cast<size_t>(i)]);
              ps2.push_back(ps[static_cast<size_t>(i)]);
            }
            pt.swap(pt2);
            ps.swap(ps2);
            ARROW_ASSIGN_OR_RAISE(pairs, TakeRows(pairs, keep));
          }
        }
      }
      std::vector<int32_t> match_count(static_cast<size_t>(nt), 0);
      out.matched_source.insert(out.matched_source.end(), ps.begin(), ps.end());
      for (size_t i = 0; i < pt.size(); ++i) {
        if (++match_count[static_cast<size_t>(pt[i])] > 1 && plan.check_duplicates) {
          std::string key;
          for (const auto& k : plan.keys) {
            ARROW_ASSIGN_OR_RAISE(auto arr, expr::Evaluate(k.target, target_rows));
            ARROW_ASSIGN_OR_RAISE(auto v, arr->GetScalar(pt[i]));
            key += (key.empty() ? "" : ", ") + k.text + " = " + v->ToString();
          }
          if (key.empty()) key = "row " + std::to_string(row_index->Value(pt[i])) + " of " + f.path;
          return Error(ErrorCode::kInvalidArgument, "MERGE: the target row with ", key,
                       " is matched by more than one source row; a target row can be updated or deleted by "
                       "one source row only (deduplicate the source on the ON keys)");
        }
      }

      // Decide every target row: unchanged, deleted, or replaced by an updated row.
      std::vector<uint8_t> changed(static_cast<size_t>(nt), 0);
      if (pairs && pairs->num_rows() > 0 && !plan.matched.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto chosen, ChooseClauses(plan.matched, pairs));
        for (size_t c = 0; c < plan.matched.size(); ++c) {
          auto rows = RowsOf(chosen, static_cast<int>(c));
          if (rows.empty()) continue;
          // Distinct target rows (several pairs per row only with a lone unconditional delete).
          std::vector<int64_t> trows;
          for (int64_t r : rows) {
            auto t = static_cast<size_t>(pt[static_cast<size_t>(r)]);
            if (!changed[t]) trows.push_back(static_cast<int64_t>(t));
            changed[t] = 1;
          }
          std::shared_ptr<arrow::RecordBatch> pre;
          if (cdf.enabled()) {
            ARROW_ASSIGN_OR_RAISE(pre, TakeRows(file_batch, trows));
          }
          if (plan.matched[c].kind == Kind::kMatchedDelete) {
            out.deletes += static_cast<int64_t>(trows.size());
            if (pre) out.changes.emplace_back(pre, internal::ChangeType::kDelete);
            continue;
          }
          ARROW_ASSIGN_OR_RAISE(auto sub, TakeRows(pairs, rows));
          ARROW_ASSIGN_OR_RAISE(auto upd, ClauseOutput(plan, plan.matched[c], sub));
          out.updates += upd->num_rows();
          if (pre) {
            out.changes.emplace_back(pre, internal::ChangeType::kUpdatePreimage);
            out.changes.emplace_back(upd, internal::ChangeType::kUpdatePostimage);
          }
          updated.push_back(upd);
        }
      }
      if (!plan.by_source.empty()) {
        std::vector<int64_t> unmatched;
        for (int64_t t = 0; t < nt; ++t) {
          if (match_count[static_cast<size_t>(t)] == 0) unmatched.push_back(t);
        }
        if (!unmatched.empty()) {
          ARROW_ASSIGN_OR_RAISE(auto rows, JoinRows(target_rows, plan.target_joined, unmatched, nullptr, nullptr, nullptr));
          ARROW_ASSIGN_OR_RAISE(auto chosen, ChooseClauses(plan.by_source, rows));
          for (size_t c = 0; c < plan.by_source.size(); ++c) {
            auto sel = RowsOf(chosen, static_cast<int>(c));
            if (sel.empty()) continue;
            std::vector<int64_t> trows;
            for (int64_t r : sel) {
              trows.push_back(unmatched[static_cast<size_t>(r)]);
              changed[static_cast<size_t>(unmatched[static_cast<size_t>(r)])] = 1;
            }
            std::shared_ptr<arrow::RecordBatch> pre;
            if (cdf.enabled()) {
              ARROW_ASSIGN_OR_RAISE(pre, TakeRows(file_batch, trows));
            }
            if (plan.by_source[c].kind == Kind::kNotMatchedBySourceDelete) {
              out.deletes += static_cast<int64_t>(sel.size());
              if (pre) out.changes.emplace_back(pre, internal::ChangeType::kDelete);
              continue;
            }
            ARROW_ASSIGN_OR_RAISE(auto sub, TakeRows(rows, sel));
            ARROW_ASSIGN_OR_RAISE(auto upd, ClauseOutput(plan, plan.by_source[c], sub));
            out.updates += upd->num_rows();
            if (pre) {
              out.changes.emplace_back(pre, internal::ChangeType::kUpdatePreimage);
              out.changes.emplace_back(upd, internal::ChangeType::kUpdatePostimage);
            }
            updated.push_back(upd);
          }
        }
      }
      // Copy-on-write keeps the unchanged rows, in case the file changes.
      const bool keep_rows = !use_dv && passes == 1;
      std::vector<int64_t> keep;
      int64_t nchanged = 0;
      for (int64_t t = 0; t < nt; ++t) {
        if (changed[static_cast<size_t>(t)]) {
          changed_rows.add(static_cast<uint64_t>(row_index->Value(t)));
          ++nchanged;
        } else if (keep_rows) {
          keep.push_back(t);
        }
      }
      if (keep_rows) {
        if (nchanged == 0) {
          kept.push_back(file_batch);
        } else if (!keep.empty()) {
          ARROW_ASSIGN_OR_RAISE(auto k, TakeRows(file_batch, keep));
          kept.push_back(std::move(k));
        }
      }
    }
    if (out.updates == 0 && out.deletes == 0) {  // the file is untouched
      out.changes.clear();
      return out;
    }
    out.touched = true;
    if (passes > 1) {  // updated rows are new rows; the file itself is replaced after every pass
      ARROW_RETURN_NOT_OK(write_now(std::move(updated), &out));
      out.changed = std::move(changed_rows);
      return out;
    }
    ARROW_RETURN_NOT_OK(finalize(f, changed_rows, out.live, std::move(kept), false, std::move(updated), &out));
    return out;
  };

  auto apply = [&](Outcome& o) {
    for (auto& a : o.actions) commit.actions.push_back(std::move(a));
    result.rows_updated += o.updates;
    result.rows_deleted += o.deletes;
    result.rows_copied += o.copied;
    result.files_added += o.files_added;
    result.files_removed += o.files_removed;
    result.deletion_vectors_added += o.dvs_added;
    for (int64_t s : o.matched_source) source_matched[static_cast<size_t>(s)] = 1;
    for (auto& [rows, type] : o.changes) cdf.Add(std::move(rows), type);
  };

  // Files run on up to `workers` threads, started in file order and applied in file order; on
  // an error the files already started finish and the first error (in file order) is returned.
  const size_t workers = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), 4));
  for (int pass = 0; pass < passes; ++pass) {
    if (spill) {
      ARROW_ASSIGN_OR_RAISE(auto part, spill->Read(pass));
      ARROW_RETURN_NOT_OK(build(part, /*with_ranges=*/false));  // ranges came from spilling
    }
    const int64_t ns = source_rows->num_rows();
    source_matched.assign(static_cast<size_t>(ns), 0);

    std::deque<std::future<Result<Outcome>>> running;
    Status first_error;
    size_t next = 0;
    std::deque<size_t> running_fi;
    while (!running.empty() || (first_error.ok() && next < candidates.size())) {
      while (first_error.ok() && next < candidates.size() && running.size() < workers) {
        size_t fi = next++;
        running_fi.push_back(fi);
        running.push_back(std::async(std::launch::async, [&process_file, fi, pass] { return process_file(fi, pass); }));
      }
      if (running.empty()) break;
      auto r = running.front().get();
      size_t fi = running_fi.front();
      running.pop_front();
      running_fi.pop_front();
      if (!first_error.ok()) continue;
      if (!r.ok()) {
        first_error = r.status();
        continue;
      }
      Outcome& o = *r;
      if (passes > 1 && o.touched) {
        auto& t = touched[fi];
        t.changed |= o.changed;
        t.live = o.live;
      }
      apply(o);
    }
    ARROW_RETURN_NOT_OK(first_error);

    // Source rows that matched nothing: WHEN NOT MATCHED clauses.
    if (!plan.not_matched.empty()) {
      std::vector<int64_t> unmatched;
      for (int64_t s = 0; s < ns; ++s) {
        if (!source_matched[static_cast<size_t>(s)]) unmatched.push_back(s);
      }
      if (!unmatched.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto rows, TakeRows(source_rows, unmatched));
        ARROW_ASSIGN_OR_RAISE(auto chosen, ChooseClauses(plan.not_matched, rows));
        std::vector<std::shared_ptr<arrow::RecordBatch>> inserts;
        Outcome ins;
        for (size_t c = 0; c < plan.not_matched.size(); ++c) {
          auto sel = RowsOf(chosen, static_cast<int>(c));
          if (sel.empty()) continue;
          ARROW_ASSIGN_OR_RAISE(auto sub, TakeRows(rows, sel));
          ARROW_ASSIGN_OR_RAISE(auto out, ClauseOutput(plan, plan.not_matched[c], sub));
          result.rows_inserted += out->num_rows();
          if (cdf.enabled()) cdf.Add(out, internal::ChangeType::kInsert);
          inserts.push_back(out);
        }
        ARROW_RETURN_NOT_OK(write_now(std::move(inserts), &ins));
        apply(ins);
      }
    }
  }  // passes
  for (auto& [fi, tf] : touched) {
    Outcome o;
    ARROW_RETURN_NOT_OK(finalize(*candidates[fi], tf.changed, tf.live, {}, !use_dv, {}, &o));
    apply(o);
  }

  if (commit.actions.empty()) {
    result.execution_time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    return result;  // nothing changed: no commit
  }
  if (schema_changed) {
    table::Protocol protocol = internal::ProtocolFor(*plan.table_schema, metadata.configuration, checks, &snap->protocol());
    if (!(protocol == snap->protocol())) commit.actions.insert(commit.actions.begin(), protocol);
    commit.actions.insert(commit.actions.begin(), metadata);
  }
  if (cdf.enabled()) {
    ARROW_ASSIGN_OR_RAISE(auto cdc, cdf.Write(*store, spec));
    for (auto& c : cdc) commit.actions.push_back(std::move(c));
  }
  commit.operation_parameters["predicate"] = options.on;
  auto describe = [](const std::vector<MergeClause>& cs, bool (*pick)(Kind)) {
    std::string out = "[";
    for (const auto& c : cs) {
      if (!pick(c.kind)) continue;
      if (out.size() > 1) out += ",";
      std::string action = c.kind == Kind::kMatchedDelete || c.kind == Kind::kNotMatchedBySourceDelete ? "delete"
                           : c.kind == Kind::kNotMatchedInsert                                          ? "insert"
                                                                                                        : "update";
      out += "{\"actionType\":\"" + action + "\"";
      if (!c.predicate.empty()) {
        std::string p;
        for (char ch : c.predicate) {
          if (ch == '"' || ch == '\\') p += '\\';
          p += ch;
        }
        out += ",\"predicate\":\"" + p + "\"";
      }
      out += "}";
    }
    return out + "]";
  };
  commit.operation_parameters["matchedPredicates"] =
      describe(options.clauses, [](Kind k) { return k == Kind::kMatchedUpdate || k == Kind::kMatchedDelete; });
  commit.operation_parameters["notMatchedPredicates"] =
      describe(options.clauses, [](Kind k) { return k == Kind::kNotMatchedInsert; });
  commit.operation_parameters["notMatchedBySourcePredicates"] = describe(
      options.clauses, [](Kind k) { return k == Kind::kNotMatchedBySourceUpdate || k == Kind::kNotMatchedBySourceDelete; });
  result.execution_time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  auto& m = commit.operation_metrics;
  m["numSourceRows"] = std::to_string(result.num_source_rows);
  m["numTargetRowsInserted"] = std::to_string(result.rows_inserted);
  m["numTargetRowsUpdated"] = std::to_string(result.rows_updated);
  m["numTargetRowsDeleted"] = std::to_string(result.rows_deleted);
  m["numTargetRowsCopied"] = std::to_string(result.rows_copied);
  m["numOutputRows"] = std::to_string(result.rows_inserted + result.rows_updated + result.rows_copied);
  m["numTargetFilesAdded"] = std::to_string(result.files_added);
  m["numTargetFilesRemoved"] = std::to_string(result.files_removed);
  m["numTargetFilesSkipped"] = std::to_string(result.files_skipped);
  m["numTargetDeletionVectorsAdded"] = std::to_string(result.deletion_vectors_added);
  m["executionTimeMs"] = std::to_string(result.execution_time_ms);
  Verdict verdict;
  if (validator) {
    ARROW_ASSIGN_OR_RAISE(verdict, validator->Validate({"MERGE", std::move(new_rows), /*may_quarantine=*/false}));
    if (!verdict.commit_info_json.empty()) commit.extra_commit_info["strataQuality"] = verdict.commit_info_json;
  }
  run.event().newest_event_us = newest_event;
  ARROW_ASSIGN_OR_RAISE(result.version, table::CommitToTable(store, std::move(commit), options.commit));
  run.event().version = result.version;
  if (verdict.after_commit) ARROW_RETURN_NOT_OK(verdict.after_commit(result.version));
  return result;
}

}  // namespace

Result<MergeResult> MergeInto(std::shared_ptr<storage::ObjectStore> store,
                              std::shared_ptr<arrow::RecordBatchReader> source, const MergeOptions& options) {
  RunTracker run(store, "MERGE");
  auto result = MergeRun(std::move(store), std::move(source), options, run);
  if (result.ok()) {
    run.event().rows_in = result->num_source_rows;
    run.event().rows_out = result->rows_inserted + result->rows_updated;
  }
  run.Finish(result.status());
  return result;
}

}  // namespace strata::ops
