/* An intrusive doubly linked list (LRU lists: the chunk cache, the persistent cache): a node
 * embedded in the element, blz_container_of to get back to it. Not thread-safe: the owner's
 * lock guards it. */
#ifndef BLZ_UTIL_LIST_H
#define BLZ_UTIL_LIST_H

#include <stddef.h>

struct blz_list_node {
	struct blz_list_node *prev, *next;
};

struct blz_list {
	struct blz_list_node *head, *tail;	/* NULL, NULL when empty */
};

#define blz_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void blz_list_unlink(struct blz_list *l, struct blz_list_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

static inline void blz_list_push_front(struct blz_list *l, struct blz_list_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	else
		l->tail = n;
	l->head = n;
}

/* Moves n (in l) to the front. */
static inline void blz_list_to_front(struct blz_list *l, struct blz_list_node *n)
{
	if (l->head != n) {
		blz_list_unlink(l, n);
		blz_list_push_front(l, n);
	}
}

#endif
