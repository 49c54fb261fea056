#ifndef EARLYIO_H
#define EARLYIO_H

#define EARLYIO_MSG_LEN 7
#define EARLYIO_PAIRS 3

/* The pairs the constructor wrote and read back whole. */
extern long earlyio_pairs;

#endif
