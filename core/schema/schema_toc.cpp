#include "schema/schema_toc.h"

#include <algorithm>
#include <queue>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace cdw {

int KindPriority(const std::string &kind) {
  // pg_dump_sort.c (PostgreSQL 15): namespaces, extensions, types,
  // functions, tables (sequences and views alike), attachments, defaults,
  // then the post-data kinds; grants after everything, refreshes last.
  static const std::unordered_map<std::string, int> kPriorities = {
      {"SCHEMA", 1},        {"EXTENSION", 5},
      {"TYPE", 6},          {"DOMAIN", 6},
      {"FUNCTION", 8},      {"PROCEDURE", 8},
      {"SEQUENCE", 18},     {"TABLE", 18},
      {"VIEW", 18},         {"MATERIALIZED VIEW", 18},
      {"TABLE ATTACH", 19}, {"SEQUENCE OWNED BY", 20},
      {"DEFAULT", 21},      {"SEQUENCE SET", 24},
      {"CONSTRAINT", 27},   {"INDEX", 28},
      {"INDEX ATTACH", 29}, {"STATISTICS", 30},
      {"TRIGGER", 32},      {"FK CONSTRAINT", 33},
      {"ROW SECURITY", 34}, {"POLICY", 34},
      {"ACL", 40},          {"REFRESH MATERIALIZED VIEW", 42},
  };
  auto found = kPriorities.find(kind);
  return found == kPriorities.end() ? 39 : found->second;
}

namespace {

int SectionRank(const std::string &section) {
  if (section == "pre-data") return 0;
  if (section == "data") return 1;
  return 2;
}

}  // namespace

void ResolveDependencies(std::vector<SchemaObject> &objects, const std::vector<IdAlias> &aliases,
                         const std::vector<DependencyEdge> &edges) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < objects.size(); i++) index.emplace(objects[i].id, i);
  std::unordered_map<std::string, std::string> alias;
  for (const auto &a : aliases) alias.emplace(a.id, a.entry);
  auto resolve = [&](std::string id) -> const std::string * {
    // Aliases may chain (an array of a table's row type): follow a few.
    for (int hop = 0; hop < 4; hop++) {
      if (index.count(id)) return &objects[index[id]].id;
      auto next = alias.find(id);
      if (next == alias.end()) return nullptr;
      id = next->second;
    }
    return nullptr;
  };
  std::vector<std::unordered_set<std::string>> seen(objects.size());
  auto add = [&](size_t i, const std::string &dep) {
    const std::string *to = resolve(dep);
    if (!to || *to == objects[i].id) return;
    if (seen[i].insert(*to).second) objects[i].deps.push_back(*to);
  };
  // The entries' own deps may name catalog ids too (an index of a
  // constraint): resolved like the edges.
  for (size_t i = 0; i < objects.size(); i++) {
    std::vector<std::string> own;
    own.swap(objects[i].deps);
    for (const auto &dep : own) add(i, dep);
  }
  for (const auto &edge : edges) {
    const std::string *from = resolve(edge.from);
    if (from) add(index[*from], edge.to);
  }
}

std::vector<std::string> SortObjects(std::vector<SchemaObject> &objects) {
  size_t n = objects.size();
  // The presort: what pg_dump's sortDumpableObjectsByTypeName does.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const SchemaObject &x = objects[a], &y = objects[b];
    return std::make_tuple(SectionRank(x.section), KindPriority(x.kind), x.schema, x.name,
                           x.table_schema, x.table_name, x.id) <
           std::make_tuple(SectionRank(y.section), KindPriority(y.kind), y.schema, y.name,
                           y.table_schema, y.table_name, y.id);
  });
  std::vector<size_t> rank(n);
  for (size_t r = 0; r < n; r++) rank[order[r]] = r;
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < n; i++) index.emplace(objects[i].id, i);

  std::vector<int> missing(n, 0);
  std::vector<std::vector<size_t>> dependents(n);
  for (size_t i = 0; i < n; i++)
    for (const auto &dep : objects[i].deps) {
      auto found = index.find(dep);
      if (found == index.end() || found->second == i) continue;
      missing[i]++;
      dependents[found->second].push_back(i);
    }
  // Kahn's algorithm taking the earliest ready entry of the presort, so the
  // presort survives wherever the dependencies allow it.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; i++)
    if (missing[i] == 0) ready.push(rank[i]);
  std::vector<bool> done(n, false);
  std::vector<size_t> sorted;
  sorted.reserve(n);
  std::vector<std::string> broken;
  size_t next_unforced = 0;
  while (sorted.size() < n) {
    size_t pick;
    if (!ready.empty()) {
      pick = order[ready.top()];
      ready.pop();
      if (done[pick]) continue;
    } else {
      // A cycle: take the earliest entry not yet placed.
      while (done[order[next_unforced]]) next_unforced++;
      pick = order[next_unforced];
      broken.push_back(objects[pick].id);
    }
    done[pick] = true;
    sorted.push_back(pick);
    for (size_t dependent : dependents[pick])
      if (--missing[dependent] == 0 && !done[dependent]) ready.push(rank[dependent]);
  }
  std::vector<SchemaObject> result;
  result.reserve(n);
  for (size_t i : sorted) result.push_back(std::move(objects[i]));
  // An entry that needs one of a later section moves to that section (a
  // view that needs a primary key for its GROUP BY becomes post-data, as
  // pg_dump does); deps come first, so one pass in order suffices.
  std::unordered_map<std::string, int> section_of;
  for (auto &object : result) {
    int own = SectionRank(object.section);
    for (const auto &dep : object.deps) {
      auto found = section_of.find(dep);
      if (found != section_of.end() && found->second > own) own = found->second;
    }
    if (own > SectionRank(object.section)) object.section = own == 1 ? "data" : "post-data";
    section_of[object.id] = own;
  }
  std::stable_sort(result.begin(), result.end(), [](const SchemaObject &a, const SchemaObject &b) {
    return SectionRank(a.section) < SectionRank(b.section);
  });
  objects = std::move(result);
  return broken;
}

}  // namespace cdw

namespace cdw {

std::vector<std::string> RemoveExcludedTables(std::vector<SchemaObject> &objects,
                                              const std::vector<TableName> &excluded) {
  std::vector<std::string> removed_ids;
  if (excluded.empty()) return removed_ids;
  std::set<TableName> names(excluded.begin(), excluded.end());
  std::unordered_map<std::string, size_t> by_id;
  for (size_t i = 0; i < objects.size(); i++) by_id[objects[i].id] = i;
  std::vector<bool> removed(objects.size(), false);
  auto is_table = [](const SchemaObject &o) { return o.kind == "TABLE"; };
  for (size_t i = 0; i < objects.size(); i++) {
    const SchemaObject &o = objects[i];
    if ((is_table(o) && names.count({o.schema, o.name})) ||
        (!o.table_name.empty() && names.count({o.table_schema, o.table_name})))
      removed[i] = true;
  }
  // Dependents of removed entries go too (to a fixpoint), kept tables never.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < objects.size(); i++) {
      if (removed[i]) continue;
      const SchemaObject &o = objects[i];
      if (is_table(o)) continue;
      for (const std::string &dep : o.deps) {
        auto found = by_id.find(dep);
        if (found != by_id.end() && removed[found->second]) {
          removed[i] = changed = true;
          break;
        }
      }
    }
  }
  // What a kept table needs stays, with what that needs in turn.
  std::vector<size_t> stack;
  for (size_t i = 0; i < objects.size(); i++)
    if (!removed[i] && is_table(objects[i])) stack.push_back(i);
  std::vector<bool> visited(objects.size(), false);
  while (!stack.empty()) {
    size_t i = stack.back();
    stack.pop_back();
    if (visited[i]) continue;
    visited[i] = true;
    removed[i] = false;
    for (const std::string &dep : objects[i].deps) {
      auto found = by_id.find(dep);
      if (found != by_id.end() && !visited[found->second]) stack.push_back(found->second);
    }
  }
  std::set<std::string> gone;
  std::vector<SchemaObject> kept;
  kept.reserve(objects.size());
  for (size_t i = 0; i < objects.size(); i++) {
    if (removed[i]) {
      gone.insert(objects[i].id);
      removed_ids.push_back(objects[i].id);
    } else {
      kept.push_back(std::move(objects[i]));
    }
  }
  for (SchemaObject &o : kept)
    o.deps.erase(std::remove_if(o.deps.begin(), o.deps.end(),
                                [&](const std::string &d) { return gone.count(d) > 0; }),
                 o.deps.end());
  objects = std::move(kept);
  return removed_ids;
}

}  // namespace cdw
