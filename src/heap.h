/*
 * heap.h: an intrusive binary min-heap of 64-bit keys (internal; a pure
 * leaf: no I/O, no clock, no locks).
 *
 * Each element embeds a redlock__heap_node, which records its key and its
 * position, so that an element can be removed or re-keyed in O(log n)
 * without a search. The heap holds pointers to those nodes; it never owns
 * the elements. Used by the lease thread for its leases' due times.
 */
#ifndef REDLOCK_HEAP_H
#define REDLOCK_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Position of a node that is not in a heap. */
#define REDLOCK__HEAP_NONE ((size_t)-1)

/* Embed one in each element. Initialise with redlock__heap_node_init(). */
typedef struct redlock__heap_node {
    uint64_t key;   /* smaller comes first */
    size_t index;   /* position in the heap, or REDLOCK__HEAP_NONE */
} redlock__heap_node;

typedef struct redlock__heap {
    redlock__heap_node **v;
    size_t len, cap;
} redlock__heap;

/* An empty heap (no allocation until the first insert). */
void redlock__heap_init(redlock__heap *h);

/* Free the heap's array (not the elements). */
void redlock__heap_free(redlock__heap *h);

/* Mark a node as not in any heap. */
void redlock__heap_node_init(redlock__heap_node *n);

/* Give n the key `key` and put it in place: inserted if it is not in the
 * heap, moved if it is. Returns false only when an insert needs memory
 * that cannot be had (then n is not in the heap). */
bool redlock__heap_set(redlock__heap *h, redlock__heap_node *n, uint64_t key);

/* Take n out of the heap; a node not in it is ignored. */
void redlock__heap_remove(redlock__heap *h, redlock__heap_node *n);

/* The node with the smallest key, or NULL when empty. */
redlock__heap_node *redlock__heap_top(const redlock__heap *h);

/* True if n is in a heap. */
bool redlock__heap_contains(const redlock__heap_node *n);

#endif /* REDLOCK_HEAP_H */
