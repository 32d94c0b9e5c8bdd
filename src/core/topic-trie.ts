/**
 * Topic-exchange matching with a trie over the words of the binding keys (`*` = exactly one word,
 * `#` = zero or more words), so routing cost follows the depth of the key and the number of
 * matching branches, not the number of bindings.
 *
 * Matching walks the trie depth first with an explicit stack (so the input chooses no recursion
 * depth), and remembers at which key positions each `#` node was entered during the current match:
 * a node is then visited at most once per position, so a match costs at most (words + 1) × trie
 * nodes whatever the keys hold. Trying every suffix for each `#` without that memory is
 * exponential in the number of `#` words (`#.#.#.#.#.#.#.#.#.zz` against a 100-word key never
 * finishes).
 */

interface Node<T> {
  words: Map<string, Node<T>> | undefined;
  star: Node<T> | undefined;
  hash: Node<T> | undefined;
  values: Set<T> | undefined;
  /** Values stored at or below this node; a node with 0 is pruned. */
  size: number;
  /** Reached through a `#`: stays live on any word. */
  readonly loops: boolean;
  /** For a `#` node: seen[i] === the current match's step once entered at key position i. */
  seen: number[] | undefined;
}

function newNode<T>(loops: boolean): Node<T> {
  return {
    words: undefined,
    star: undefined,
    hash: undefined,
    values: undefined,
    size: 0,
    loops,
    seen: undefined,
  };
}

/** Splits a routing or binding key into words as RabbitMQ does: the empty key has no words. */
export function splitKey(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicTrie<T> {
  private readonly root: Node<T> = newNode(false);
  /** The depth-first stack of (node, key position), reused by every match. */
  private readonly stackNodes: Node<T>[] = [];
  private readonly stackPositions: number[] = [];
  /** Numbers the matches, so the `#` nodes' memories need no clearing. */
  private step = 0;

  get size(): number {
    return this.root.size;
  }

  add(bindingKey: string, value: T): boolean {
    const path: Node<T>[] = [this.root];
    let node = this.root;
    for (const w of splitKey(bindingKey)) {
      let next: Node<T> | undefined;
      if (w === '*') next = node.star ??= newNode(false);
      else if (w === '#') next = node.hash ??= newNode(true);
      else {
        node.words ??= new Map();
        next = node.words.get(w);
        if (next === undefined) {
          next = newNode(false);
          node.words.set(w, next);
        }
      }
      node = next;
      path.push(node);
    }
    node.values ??= new Set();
    if (node.values.has(value)) return false;
    node.values.add(value);
    for (const n of path) n.size++;
    return true;
  }

  remove(bindingKey: string, value: T): boolean {
    const words = splitKey(bindingKey);
    const path: Node<T>[] = [this.root];
    let node: Node<T> | undefined = this.root;
    for (const w of words) {
      node = w === '*' ? node.star : w === '#' ? node.hash : node.words?.get(w);
      if (node === undefined) return false;
      path.push(node);
    }
    if (node.values === undefined || !node.values.delete(value)) return false;
    for (const n of path) n.size--;
    // Prune empty branches so a churn of bindings leaves no garbage behind.
    for (let i = words.length; i > 0; i--) {
      const child = path[i]!;
      if (child.size > 0) break;
      const parent = path[i - 1]!;
      const w = words[i - 1]!;
      if (w === '*') parent.star = undefined;
      else if (w === '#') parent.hash = undefined;
      else parent.words?.delete(w);
    }
    return true;
  }

  /** Adds every value whose binding key matches `routingKey` to `out`. Synchronous: not reentrant. */
  match(routingKey: string, out: Set<T>): void {
    if (this.root.size === 0) return;
    const words = splitKey(routingKey);
    const end = words.length;
    const step = ++this.step;
    const nodes = this.stackNodes;
    const positions = this.stackPositions;
    nodes[0] = this.root;
    positions[0] = 0;
    let top = 1;
    while (top > 0) {
      top--;
      const node = nodes[top]!;
      const i = positions[top]!;
      if (i === end) {
        if (node.values !== undefined) for (const v of node.values) out.add(v);
      } else {
        const exact = node.words?.get(words[i]!);
        if (exact !== undefined) {
          nodes[top] = exact;
          positions[top++] = i + 1;
        }
        if (node.star !== undefined) {
          nodes[top] = node.star;
          positions[top++] = i + 1;
        }
        // A `#` takes one more word and stays.
        if (node.loops && node.seen![i + 1] !== step) {
          node.seen![i + 1] = step;
          nodes[top] = node;
          positions[top++] = i + 1;
        }
      }
      // A `#` below takes zero words.
      const hash = node.hash;
      if (hash !== undefined) {
        const seen = (hash.seen ??= []);
        if (seen[i] !== step) {
          seen[i] = step;
          nodes[top] = hash;
          positions[top++] = i;
        }
      }
    }
  }
}
