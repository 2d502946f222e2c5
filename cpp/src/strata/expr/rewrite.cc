// Inspecting and rewriting expression trees: conjunct splitting, equality operands, column
// renaming (used by MERGE to plan its join and to bind clause expressions to the joined rows).
#include "strata/expr/expr.h"
#include "strata/expr/expr_internal.h"

namespace strata::expr {

namespace {

void Collect(const NodePtr& node, std::vector<NodePtr>* out) {
  if (node->kind == NodeKind::kAnd) {
    for (const auto& c : node->children) Collect(c, out);
    return;
  }
  out->push_back(node);
}

}  // namespace

std::vector<NodePtr> Conjuncts(const NodePtr& node) {
  std::vector<NodePtr> out;
  if (node) Collect(node, &out);
  return out;
}

NodePtr AndOf(const std::vector<NodePtr>& terms) {
  if (terms.empty()) return nullptr;
  NodePtr out = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) out = MakeNode(NodeKind::kAnd, {out, terms[i]});
  return out;
}

std::optional<std::pair<NodePtr, NodePtr>> EqualityOperands(const NodePtr& node) {
  if (!node || node->kind != NodeKind::kCompare || node->cmp != CompareOp::kEq) return std::nullopt;
  return std::make_pair(node->children[0], node->children[1]);
}

std::optional<std::vector<std::string>> ColumnPath(const NodePtr& node) {
  if (!node || node->kind != NodeKind::kColumn) return std::nullopt;
  return node->path;
}

Result<NodePtr> RenameColumns(const NodePtr& node, const ColumnRenamer& rename) {
  if (!node) return node;
  auto copy = std::make_shared<Node>(*node);
  if (node->kind == NodeKind::kColumn) {
    STRATA_ASSIGN_OR_RAISE(copy->path, rename(node->path));
    return NodePtr(copy);
  }
  for (auto& c : copy->children) {
    STRATA_ASSIGN_OR_RAISE(c, RenameColumns(c, rename));
  }
  return NodePtr(copy);
}

}  // namespace strata::expr
