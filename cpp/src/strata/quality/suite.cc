// Suites: YAML parsing, binding to a schema, and the validation pass.
//
//   reader ──batches──▶ main thread ──morsels (bounded queue)──▶ N workers
//                                                                  │ per-thread AccStates
//   Report ◀── Finish per expectation ◀── Finalize ◀── Merge ◀─────┘
#include "strata/quality/suite.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <strings.h>
#include <thread>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <yaml-cpp/yaml.h>

#include "strata/exec/scan.h"
#include "strata/quality/expectations_internal.h"

namespace strata::quality {

namespace internal {

struct SuiteImpl {
  std::string name;
  std::string base_dir;
  std::vector<ExpectationSpec> specs;
  std::vector<std::shared_ptr<const Expectation>> compiled;
};

/// A suite bound to one input schema.
class BoundSuite {
 public:
  BindContext ctx;
  std::vector<std::unique_ptr<BoundExpectation>> bound;
  std::vector<std::vector<int>> uses;  ///< accumulators each expectation reads
  std::vector<int> normalize;          ///< columns decoded per batch (dictionary, views)
  std::shared_ptr<arrow::Schema> input_schema;
  std::shared_ptr<const SuiteImpl> impl;

  Result<std::shared_ptr<arrow::RecordBatch>> Normalize(const std::shared_ptr<arrow::RecordBatch>& batch) const {
    if (normalize.empty()) return batch;
    auto cols = batch->columns();
    for (int c : normalize) {
      ARROW_ASSIGN_OR_RAISE(cols[c], arrow::compute::Cast(*cols[c], ctx.schema->field(c)->type()));
    }
    return arrow::RecordBatch::Make(ctx.schema, batch->num_rows(), std::move(cols));
  }
};

namespace {

/// The type a column is checked as: dictionaries decoded, views as plain strings/binaries.
std::shared_ptr<arrow::DataType> CheckedType(const std::shared_ptr<arrow::DataType>& t) {
  switch (t->id()) {
    case arrow::Type::DICTIONARY:
      return CheckedType(static_cast<const arrow::DictionaryType&>(*t).value_type());
    case arrow::Type::STRING_VIEW: return arrow::large_utf8();
    case arrow::Type::BINARY_VIEW: return arrow::large_binary();
    default: return t;
  }
}

/// A column of Arrow's null type (e.g. an all-None pandas column) is checked as a column of
/// nulls of the type its expectations expect: text for text checks, int64 otherwise.
std::shared_ptr<arrow::DataType> TypeForNullColumn(const SuiteImpl& impl, const std::string& name) {
  static const std::set<std::string> kText = {"regex", "not_regex", "string_length_between"};
  for (const auto& e : impl.compiled) {
    if (std::find(e->columns.begin(), e->columns.end(), name) == e->columns.end()) continue;
    if (kText.count(e->spec.type)) return arrow::utf8();
    for (const char* key : {"values", "min", "max"}) {
      const Value* v = e->spec.args.Find(key);
      if (v == nullptr) continue;
      if (v->is_string()) return arrow::utf8();
      for (const auto& x : v->as_list()) {
        if (x.is_string()) return arrow::utf8();
      }
    }
  }
  return arrow::int64();
}

std::set<std::string> NeededLower(const SuiteImpl& impl) {
  std::set<std::string> out;
  for (const auto& e : impl.compiled) {
    for (const auto& c : e->columns) {
      std::string l = c;
      std::transform(l.begin(), l.end(), l.begin(), [](unsigned char ch) { return std::tolower(ch); });
      out.insert(l);
    }
  }
  return out;
}

Result<std::shared_ptr<BoundSuite>> BindSuite(std::shared_ptr<const SuiteImpl> impl, const std::shared_ptr<arrow::Schema>& input,
                                              std::shared_ptr<arrow::Schema> full_schema, const ValidateOptions& options,
                                              bool row_level_only) {
  auto bs = std::make_shared<BoundSuite>();
  bs->impl = impl;
  bs->input_schema = input;
  auto needed = NeededLower(*impl);
  arrow::FieldVector fields;
  for (int i = 0; i < input->num_fields(); ++i) {
    auto f = input->field(i);
    std::string l = f->name();
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char ch) { return std::tolower(ch); });
    auto t = CheckedType(f->type());
    if (t->id() == arrow::Type::NA) t = TypeForNullColumn(*impl, f->name());
    if (!t->Equals(*f->type()) && needed.count(l)) {
      bs->normalize.push_back(i);
      f = f->WithType(t);
    }
    fields.push_back(f);
  }
  bs->ctx.schema = arrow::schema(fields);
  bs->ctx.full_schema = full_schema ? std::move(full_schema) : input;
  bs->ctx.options = options;
  for (const auto& e : impl->compiled) {
    if (row_level_only && e->kind != ExpectationKind::kRow) {
      bs->bound.push_back(nullptr);
      bs->uses.emplace_back();
      continue;
    }
    bs->ctx.uses.clear();
    auto b = e->Bind(&bs->ctx);
    if (!b.ok()) return ContextError(e->Context(), b.status());
    bs->uses.push_back(bs->ctx.uses);
    bs->bound.push_back(std::move(b).ValueUnsafe());
  }
  return bs;
}

/// Bounded FIFO of morsels from the reading thread to the workers.
class MorselQueue {
 public:
  explicit MorselQueue(size_t capacity) : capacity_(capacity) {}
  bool Push(int64_t index, std::shared_ptr<arrow::RecordBatch> batch) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    if (closed_) return false;
    items_.emplace_back(index, std::move(batch));
    not_empty_.notify_one();
    return true;
  }
  bool Pop(int64_t* index, std::shared_ptr<arrow::RecordBatch>* batch) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return false;
    *index = items_.front().first;
    *batch = std::move(items_.front().second);
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::pair<int64_t, std::shared_ptr<arrow::RecordBatch>>> items_;
  size_t capacity_;
  bool closed_ = false;
};

int ThreadCount(const ValidateOptions& o) {
  if (o.threads > 0) return std::min(o.threads, 64);
  return std::max(1, std::min(static_cast<int>(std::thread::hardware_concurrency()), 16));
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<Report> Run(std::shared_ptr<const SuiteImpl> impl, std::shared_ptr<arrow::RecordBatchReader> reader,
                   std::shared_ptr<arrow::Schema> full_schema, const ValidateOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(auto bs, BindSuite(impl, reader->schema(), std::move(full_schema), options, false));
  const auto& accs = bs->ctx.accumulators;
  const size_t A = accs.size();
  const int T = ThreadCount(options);
  const int64_t morsel_rows = std::max<int64_t>(1, options.morsel_rows);

  std::vector<std::vector<std::unique_ptr<AccState>>> states(static_cast<size_t>(T));
  for (auto& per_thread : states) {
    for (const auto& a : accs) per_thread.push_back(a->NewState());
  }
  std::mutex error_mu;
  Status fatal;
  MorselQueue queue(static_cast<size_t>(2 * T + 2));
  auto worker = [&](int t) {
    int64_t index;
    std::shared_ptr<arrow::RecordBatch> batch;
    while (queue.Pop(&index, &batch)) {
      auto norm = bs->Normalize(batch);
      if (!norm.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (fatal.ok()) fatal = norm.status();
        queue.Close();
        return;
      }
      Morsel m{norm->get(), index};
      for (size_t a = 0; a < A; ++a) {
        AccState* st = states[t][a].get();
        if (!st->error.ok()) continue;
        Status s = accs[a]->Update(st, m);
        if (!s.ok()) st->error = s;
      }
    }
  };
  int64_t rows = 0;
  Status read_status;
  {
    std::vector<std::thread> workers;
    if (A > 0) {
      for (int t = 0; t < T; ++t) workers.emplace_back(worker, t);
    }
    int64_t index = 0;
    while (true) {
      auto next = reader->Next();
      if (!next.ok()) {
        read_status = next.status();
        break;
      }
      auto batch = *next;
      if (!batch) break;
      rows += batch->num_rows();
      if (A == 0) continue;
      bool open = true;
      for (int64_t off = 0; off < batch->num_rows() && open; off += morsel_rows) {
        open = queue.Push(index++, batch->Slice(off, std::min(morsel_rows, batch->num_rows() - off)));
      }
      if (!open) break;
    }
    queue.Close();
    for (auto& w : workers) w.join();
  }
  ARROW_RETURN_NOT_OK(read_status);
  ARROW_RETURN_NOT_OK(fatal);

  // Merge every worker's state into worker 0's, then finalize.
  std::vector<AccState*> merged(A);
  for (size_t a = 0; a < A; ++a) {
    for (int t = 1; t < T; ++t) {
      if (!states[t][a]->error.ok() && states[0][a]->error.ok()) states[0][a]->error = states[t][a]->error;
      accs[a]->Merge(states[0][a].get(), std::move(states[t][a]));
    }
    if (states[0][a]->error.ok()) {
      Status s = accs[a]->Finalize(states[0][a].get(), T);
      if (!s.ok()) states[0][a]->error = s;
    }
    merged[a] = states[0][a].get();
  }

  FinishContext fc;
  fc.states = merged;
  fc.row_count = rows;
  fc.max_samples = options.max_samples;
  fc.now_us = options.now_us ? *options.now_us : NowMicros();
  Report report;
  report.suite_name = impl->name;
  report.row_count = rows;
  for (size_t i = 0; i < impl->compiled.size(); ++i) {
    const auto& e = *impl->compiled[i];
    ExpectationResult r;
    r.type = e.spec.type;
    r.column = e.column;
    r.columns = e.columns;
    r.kwargs = e.spec.args;
    r.origin = e.spec.origin;
    r.name = e.display_name;
    Status err;
    for (int a : bs->uses[i]) {
      if (!merged[a]->error.ok()) err = merged[a]->error;
    }
    if (err.ok()) err = bs->bound[i]->Finish(fc, &r);
    if (!err.ok()) {
      r.success = false;
      r.error = err.message();
    }
    report.success &= r.success;
    report.results.push_back(std::move(r));
  }
  report.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

// ---- YAML ----------------------------------------------------------------------------------

int LineOf(const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().line + 1; }

/// [-+]?[0-9]+
bool LooksInt(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

/// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksFloat(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

bool LooksHex(const std::string& s) {
  if (s.size() < 3 || s[0] != '0' || s[1] != 'x') return false;
  for (size_t i = 2; i < s.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Value PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Value();
  if (s == "true" || s == "True" || s == "TRUE") return Value::Bool(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value::Bool(false);
  if (LooksInt(s)) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0) return Value::Int(v);
    return Value::Double(std::strtod(s.c_str(), nullptr));
  }
  if (LooksHex(s)) return Value::Int(static_cast<int64_t>(std::strtoull(s.c_str() + 2, nullptr, 16)));
  if (LooksFloat(s)) return Value::Double(std::strtod(s.c_str(), nullptr));
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return Value::Double(HUGE_VAL);
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return Value::Double(-HUGE_VAL);
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return Value::Double(std::nan(""));
  return Value::String(s);
}

/// Aliases can make a small document expand exponentially: conversion stops after this many
/// nodes.
constexpr int64_t kMaxYamlNodes = 1 << 20;

Result<Value> Convert(const YAML::Node& n, const std::string& source, int depth, int64_t* budget) {
  if (depth > 64) return Error(ErrorCode::kInvalidArgument, source, ":", LineOf(n), ": nesting too deep");
  if (--*budget < 0) {
    return Error(ErrorCode::kInvalidArgument, source, ": document too large (more than ", kMaxYamlNodes,
                 " nodes once aliases are expanded)");
  }
  Value out;
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      break;
    case YAML::NodeType::Scalar:
      out = n.Tag() == "!" ? Value::String(n.Scalar()) : PlainScalar(n.Scalar());
      break;
    case YAML::NodeType::Sequence: {
      Value::List list;
      for (const auto& item : n) {
        ARROW_ASSIGN_OR_RAISE(auto v, Convert(item, source, depth + 1, budget));
        list.push_back(std::move(v));
      }
      out = Value::MakeList(std::move(list));
      break;
    }
    case YAML::NodeType::Map: {
      Value::Map map;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
          return Error(ErrorCode::kInvalidArgument, source, ":", LineOf(kv.first), ": map keys must be plain text");
        }
        const std::string& key = kv.first.Scalar();
        for (const auto& [k, _] : map) {
          if (k == key) return Error(ErrorCode::kInvalidArgument, source, ":", LineOf(kv.first), ": duplicate key '", key, "'");
        }
        ARROW_ASSIGN_OR_RAISE(auto v, Convert(kv.second, source, depth + 1, budget));
        if (v.line() == 0) v.set_line(LineOf(kv.first));
        map.emplace_back(key, std::move(v));
      }
      out = Value::MakeMap(std::move(map));
      break;
    }
  }
  out.set_line(LineOf(n));
  return out;
}

std::string DirOf(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

}  // namespace
}  // namespace internal

using internal::SuiteImpl;

Result<Value> ParseYaml(std::string_view yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, source, ":", e.mark.line + 1, ": invalid YAML: ", e.msg);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, source, ": invalid YAML: ", e.what());
  }
  try {
    int64_t budget = internal::kMaxYamlNodes;
    return internal::Convert(root, source, 0, &budget);
  } catch (const std::exception& e) {  // yaml-cpp may throw while iterating a malformed node
    return Error(ErrorCode::kInvalidArgument, source, ": invalid YAML: ", e.what());
  }
}

Result<std::vector<ExpectationSpec>> ParseExpectationList(const Value& list, const std::string& source) {
  if (!list.is_list()) {
    return Error(ErrorCode::kInvalidArgument, source, ":", list.line(), ": 'expectations' must be a list of maps, got ",
                 Value::KindName(list.kind()));
  }
  std::vector<ExpectationSpec> out;
  int i = 0;
  for (const auto& item : list.as_list()) {
    ++i;
    std::string origin = source + ":" + std::to_string(item.line());
    if (!item.is_map()) {
      return Error(ErrorCode::kInvalidArgument, origin, ": expectation ", i, " must be a map such as {type: not_null, column: id}, got ",
                   item.ToString());
    }
    ExpectationSpec spec;
    spec.origin = origin;
    Value::Map args;
    for (const auto& [k, v] : item.as_map()) {
      if (k == "type") {
        if (!v.is_string()) {
          return Error(ErrorCode::kInvalidArgument, origin, ": expectation ", i, ": 'type' must be a name, got ", v.ToString());
        }
        spec.type = v.as_string();
      } else {
        args.emplace_back(k, v);
      }
    }
    spec.args = Value::MakeMap(std::move(args));
    out.push_back(std::move(spec));
  }
  return out;
}

Result<Suite> Suite::FromValue(const Value& doc, const std::string& source, std::string base_dir) {
  if (!doc.is_map()) {
    return Error(ErrorCode::kInvalidArgument, source, ":", std::max(1, doc.line()),
                 ": a suite must be a map with 'name' and 'expectations'");
  }
  std::string name;
  Value list;
  bool have_list = false;
  for (const auto& [k, v] : doc.as_map()) {
    if (k == "name") {
      if (!v.is_string()) return Error(ErrorCode::kInvalidArgument, source, ":", v.line(), ": 'name' must be text");
      name = v.as_string();
    } else if (k == "expectations") {
      list = v;
      have_list = true;
    } else if (k != "description" && k != "meta") {
      return Error(ErrorCode::kInvalidArgument, source, ":", v.line(), ": unknown key '", k,
                   "' (a suite has name, description, meta and expectations)");
    }
  }
  if (!have_list) return Error(ErrorCode::kInvalidArgument, source, ":", std::max(1, doc.line()), ": missing 'expectations'");
  std::vector<ExpectationSpec> specs;
  if (!list.is_null()) {
    ARROW_ASSIGN_OR_RAISE(specs, ParseExpectationList(list, source));
  }
  return Make(std::move(name), std::move(specs), std::move(base_dir));
}

Result<Suite> Suite::FromYamlString(std::string_view yaml, const std::string& source) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseYaml(yaml, source));
  return FromValue(doc, source);
}

Result<Suite> Suite::FromYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kInvalidArgument, "cannot read suite file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseYaml(ss.str(), path));
  ARROW_ASSIGN_OR_RAISE(auto suite, FromValue(doc, path, internal::DirOf(path)));
  if (suite.name().empty()) {
    auto impl = std::make_shared<SuiteImpl>(*suite.impl_);
    impl->name = std::filesystem::path(path).stem().string();
    return Suite(std::move(impl));
  }
  return suite;
}

Result<Suite> Suite::Make(std::string name, std::vector<ExpectationSpec> expectations, std::string base_dir) {
  auto impl = std::make_shared<SuiteImpl>();
  impl->name = std::move(name);
  impl->base_dir = std::move(base_dir);
  int i = 0;
  for (const auto& spec : expectations) {
    ARROW_ASSIGN_OR_RAISE(auto e, internal::Compile(spec, ++i, impl->base_dir));
    impl->compiled.push_back(std::move(e));
  }
  impl->specs = std::move(expectations);
  return Suite(std::move(impl));
}

const std::string& Suite::name() const { return impl_->name; }
const std::vector<ExpectationSpec>& Suite::expectations() const { return impl_->specs; }

std::vector<std::string> Suite::RequiredColumns() const {
  std::vector<std::string> out;
  for (const auto& e : impl_->compiled) {
    if (e->kind == ExpectationKind::kSchema) continue;
    for (const auto& c : e->columns) {
      if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    }
  }
  return out;
}

Result<Report> Suite::Validate(std::shared_ptr<arrow::RecordBatchReader> data, const ValidateOptions& options) const {
  return internal::Run(impl_, std::move(data), nullptr, options);
}

Result<Report> Suite::Validate(const std::shared_ptr<arrow::Table>& data, const ValidateOptions& options) const {
  return Validate(std::make_shared<arrow::TableBatchReader>(data), options);
}

Result<Report> Suite::ValidateSnapshot(table::SnapshotPtr snapshot, const ValidateOptions& options) const {
  const auto& schema = *snapshot->schema();
  exec::ScanOptions scan;
  for (const auto& want : RequiredColumns()) {
    int idx = schema.GetFieldIndex(want);
    if (idx < 0) {
      for (int i = 0; i < schema.num_fields(); ++i) {
        if (strcasecmp(schema.field(i)->name().c_str(), want.c_str()) == 0) idx = i;
      }
    }
    if (idx < 0) continue;  // reported by the expectation that needs it
    const auto& name = schema.field(idx)->name();
    if (std::find(scan.columns.begin(), scan.columns.end(), name) == scan.columns.end()) scan.columns.push_back(name);
  }
  if (scan.columns.empty() && schema.num_fields() > 0) scan.columns.push_back(schema.field(0)->name());
  // Plain field metadata: Delta column metadata is of no use to the checks.
  arrow::FieldVector plain;
  for (const auto& f : schema.fields()) plain.push_back(f->WithMetadata(nullptr));
  ARROW_ASSIGN_OR_RAISE(auto reader, exec::Scan(snapshot, scan));
  auto report = internal::Run(impl_, std::move(reader), arrow::schema(plain), options);
  if (!report.ok()) {
    return WithContext(report.status(), "validating '" + snapshot->store()->root() + "' at version " +
                                            std::to_string(snapshot->version()));
  }
  report->table_path = snapshot->store()->root();
  report->table_version = snapshot->version();
  return report;
}

Result<Report> Suite::ValidateTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                    const ValidateOptions& options) const {
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(std::move(store), version));
  return ValidateSnapshot(std::move(snap), options);
}

// ---- row checks ----------------------------------------------------------------------------

RowChecker::~RowChecker() = default;

const std::vector<std::string>& RowChecker::row_expectations() const { return row_names_; }
const std::vector<std::string>& RowChecker::skipped_expectations() const { return skipped_names_; }

Result<std::shared_ptr<RowChecker>> Suite::MakeRowChecker(const std::shared_ptr<arrow::Schema>& schema,
                                                          const ValidateOptions& options) const {
  ARROW_ASSIGN_OR_RAISE(auto bs, internal::BindSuite(impl_, schema, nullptr, options, true));
  std::shared_ptr<RowChecker> rc(new RowChecker());
  rc->bound_ = std::move(bs);
  for (size_t i = 0; i < impl_->compiled.size(); ++i) {
    const auto& b = rc->bound_->bound[i];
    (b && b->row_level() ? rc->row_names_ : rc->skipped_names_).push_back(impl_->compiled[i]->display_name);
  }
  return rc;
}

Result<RowFailures> RowChecker::Check(const std::shared_ptr<arrow::RecordBatch>& batch) const {
  const auto& bs = *bound_;
  if (!batch->schema()->Equals(*bs.input_schema, /*check_metadata=*/false)) {
    return Error(ErrorCode::kSchemaMismatch, "batch schema ", batch->schema()->ToString(),
                 " differs from the schema the checker was made for: ", bs.input_schema->ToString());
  }
  ARROW_ASSIGN_OR_RAISE(auto norm, bs.Normalize(batch));
  const int64_t n = batch->num_rows();
  std::vector<uint8_t> any(static_cast<size_t>(n), 0), fail(static_cast<size_t>(n));
  std::vector<std::string> reasons(static_cast<size_t>(n));
  for (size_t i = 0; i < bs.bound.size(); ++i) {
    const auto& b = bs.bound[i];
    if (!b || !b->row_level()) continue;
    std::fill(fail.begin(), fail.end(), 0);
    auto st = b->FailRows(*norm, fail.data());
    if (!st.ok()) return internal::ContextError(bs.impl->compiled[i]->Context(), st.status());
    const auto& name = bs.impl->compiled[i]->display_name;
    for (int64_t r = 0; r < n; ++r) {
      if (!fail[r]) continue;
      any[r] = 1;
      if (!reasons[r].empty()) reasons[r] += "; ";
      reasons[r] += name;
    }
  }
  RowFailures out;
  arrow::BooleanBuilder fb;
  arrow::StringBuilder rb;
  ARROW_RETURN_NOT_OK(fb.Reserve(n));
  for (int64_t r = 0; r < n; ++r) {
    fb.UnsafeAppend(any[r] != 0);
    if (any[r]) {
      ++out.num_failed;
      ARROW_RETURN_NOT_OK(rb.Append(reasons[r]));
    } else {
      ARROW_RETURN_NOT_OK(rb.AppendNull());
    }
  }
  std::shared_ptr<arrow::Array> f, r;
  ARROW_RETURN_NOT_OK(fb.Finish(&f));
  ARROW_RETURN_NOT_OK(rb.Finish(&r));
  out.failed = std::static_pointer_cast<arrow::BooleanArray>(f);
  out.reasons = std::static_pointer_cast<arrow::StringArray>(r);
  return out;
}

Result<RowFailures> Suite::FailingRows(const std::shared_ptr<arrow::RecordBatch>& batch) const {
  ARROW_ASSIGN_OR_RAISE(auto checker, MakeRowChecker(batch->schema()));
  return checker->Check(batch);
}

}  // namespace strata::quality
