/**
 * Retained messages by MQTT topic name, in a trie over topic levels, so that a SUBSCRIBE only walks
 * the branches its filter can reach instead of testing every retained topic.
 *
 * Matching follows MQTT (and `topicMatches` in topic.ts): `+` is one level, a final `#` zero or more
 * levels ("a/#" finds "a"), and a filter starting with a wildcard finds no topic starting with `$`
 * [MQTT-4.7.2-1].
 */

interface Node<T> {
  /** Child per next level; undefined on leaves, which are most nodes. */
  children: Map<string, Node<T>> | undefined;
  /** Set when a topic ends here (`T` may itself include undefined, hence the flag). */
  has: boolean;
  topic: string;
  value: T | undefined;
}

function newNode<T>(): Node<T> {
  return { children: undefined, has: false, topic: '', value: undefined };
}

/** A node to visit at level `i` of the filter, or (`i === -1`) whose whole subtree a `#` takes. */
interface Step<T> {
  node: Node<T>;
  i: number;
}

const SUBTREE = -1;

export class RetainedIndex<T> {
  private readonly root: Node<T> = newNode();
  private count = 0;

  /**
   * Nodes visited by the most recent `match` iteration so far. For tests and metrics: it shows
   * that a filter's cost follows the branches it reaches, not the number of retained topics.
   */
  visited = 0;

  get size(): number {
    return this.count;
  }

  set(topic: string, value: T): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      node.children ??= new Map();
      let next = node.children.get(level);
      if (next === undefined) {
        next = newNode();
        node.children.set(level, next);
      }
      node = next;
    }
    if (!node.has) this.count++;
    node.has = true;
    node.topic = topic;
    node.value = value;
  }

  get(topic: string): T | undefined {
    let node: Node<T> | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node.has ? node.value : undefined;
  }

  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: Node<T>[] = [this.root];
    let node: Node<T> | undefined = this.root;
    for (const level of levels) {
      node = node.children?.get(level);
      if (node === undefined) return false;
      path.push(node);
    }
    if (!node.has) return false;
    node.has = false;
    node.value = undefined;
    node.topic = '';
    this.count--;
    prune(path, levels);
    return true;
  }

  /**
   * Every retained `[topic, value]` that MQTT topic filter `filter` matches, in no particular order.
   * Lazy: do not `set` or `delete` while iterating.
   */
  *match(filter: string): Iterable<[topic: string, value: T]> {
    this.visited = 0;
    if (filter.length === 0) return; // [MQTT-4.7.3-1]: matches nothing, as in topicMatches
    const levels = filter.split('/');
    const stack: Step<T>[] = [{ node: this.root, i: 0 }];
    // An explicit stack rather than recursion: a 64 KiB topic can have 65536 levels.
    for (let step = stack.pop(); step !== undefined; step = stack.pop()) {
      this.visited++;
      const { node, i } = step;
      if (i === SUBTREE || i === levels.length) {
        if (node.has) yield [node.topic, node.value as T];
        if (i === SUBTREE) pushChildren(stack, node, SUBTREE, false);
        continue;
      }
      const level = levels[i]!;
      // [MQTT-4.7.2-1] applies to the first level only.
      const skipDollar = i === 0;
      if (level === '#' && i === levels.length - 1) {
        // '#' also matches the parent level itself ("a/#" finds "a").
        if (node.has) yield [node.topic, node.value as T];
        pushChildren(stack, node, SUBTREE, skipDollar);
      } else if (level === '+') {
        pushChildren(stack, node, i + 1, skipDollar);
      } else {
        const child = node.children?.get(level);
        if (child !== undefined) stack.push({ node: child, i: i + 1 });
      }
    }
  }
}

function pushChildren<T>(stack: Step<T>[], node: Node<T>, i: number, skipDollar: boolean): void {
  if (node.children === undefined) return;
  for (const [level, child] of node.children) {
    if (skipDollar && level.startsWith('$')) continue;
    stack.push({ node: child, i });
  }
}

/** Removes the nodes along `path` left with neither a value nor children, deepest first. */
function prune<T>(path: Node<T>[], levels: string[]): void {
  for (let i = levels.length; i > 0; i--) {
    const node = path[i]!;
    if (node.has || (node.children !== undefined && node.children.size > 0)) return;
    const parent = path[i - 1]!;
    parent.children!.delete(levels[i - 1]!);
    if (parent.children!.size === 0) parent.children = undefined;
  }
}
