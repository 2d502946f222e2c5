/// \file
/// Expectations as data: the argument values of an expectation (`Value`, parsed from YAML or
/// built from Python), one expectation's declaration (`ExpectationSpec`) and the catalogue of
/// expectation types with their arguments. Knows nothing of YAML files or Arrow data; suite.h
/// parses and validates, report.h holds results.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/common/status.h"

namespace strata {
class JsonWriter;
}

namespace strata::quality {

/// A JSON-like argument value: null, bool, integer, double, string, list or map (keys in
/// declaration order). Cheap to copy (lists and maps are shared, never mutated after building).
class Value {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kList, kMap };
  using List = std::vector<Value>;
  using Map = std::vector<std::pair<std::string, Value>>;

  Value() = default;
  static Value Bool(bool v);
  static Value Int(int64_t v);
  static Value Double(double v);
  static Value String(std::string v);
  static Value MakeList(List v);
  static Value MakeMap(Map v);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kDouble; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_map() const { return kind_ == Kind::kMap; }

  /// REQUIRES: the matching kind (as_double also accepts an integer).
  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : d_; }
  const std::string& as_string() const { return s_; }
  const List& as_list() const;
  const Map& as_map() const;

  /// The member `key` of a map, or null when absent (or when this is not a map).
  const Value* Find(std::string_view key) const;

  /// Where the value was declared (1-based line of its YAML file), 0 when unknown.
  int line() const { return line_; }
  Value& set_line(int line) {
    line_ = line;
    return *this;
  }

  /// Name of a kind for messages ("a number", "a list", ...).
  static const char* KindName(Kind kind);
  /// Compact YAML/JSON-like text for messages ("[EUR, USD]", "{a: 1}").
  std::string ToString() const;
  /// Appends the value as JSON (NaN and infinities as the strings "NaN", "Infinity").
  void WriteJson(JsonWriter* w) const;
  std::string ToJson() const;

  bool operator==(const Value& other) const;

 private:
  Kind kind_ = Kind::kNull;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<const List> list_;
  std::shared_ptr<const Map> map_;
  int line_ = 0;
};

/// One expectation as declared: `{type: between, column: amount, min: 0, max: 10000}`.
struct ExpectationSpec {
  /// The expectation type in snake_case (`not_null`, `between`, ...); see ExpectationTypes().
  std::string type;
  /// Every other key of the declaration, as a map (column, min, mostly, ...).
  Value args = Value::MakeMap({});
  /// Where it was declared ("suite.yaml:12"), empty for suites built in code.
  std::string origin;

  /// Convenience builder: `Spec("between", {{"column", Value::String("x")}, {"min", Value::Int(0)}})`.
  static ExpectationSpec Make(std::string type, Value::Map args);
};

/// How an expectation type is evaluated.
enum class ExpectationKind {
  kRow,        ///< a predicate per row (or per value): has unexpected rows and `mostly`
  kAggregate,  ///< a statistic of the data (mean, row count, ...) checked against a range
  kSchema,     ///< the column names and types only
};

/// One argument of an expectation type.
struct ArgumentInfo {
  std::string name;
  std::string type;  ///< for documentation: "column", "number", "string", "list", ...
  bool required = false;
  std::string doc;
};

/// One expectation type of the catalogue.
struct ExpectationTypeInfo {
  std::string name;
  ExpectationKind kind;
  std::string doc;
  std::vector<ArgumentInfo> arguments;  ///< besides the common `name` and `meta` (and `mostly` on row kinds)
};

/// Every expectation type strata implements, in documentation order.
const std::vector<ExpectationTypeInfo>& ExpectationTypes();

/// The catalogue entry of `type`, or null when there is no such type.
const ExpectationTypeInfo* FindExpectationType(std::string_view type);

}  // namespace strata::quality
