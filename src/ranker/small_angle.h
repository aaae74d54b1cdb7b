/*
 * small_angle.h: sine, cosine and arcsine of the small angles between a
 * query's point and the places and cells around it, by their Taylor
 * series. Below SMALL_RAD (0.1 rad, about 640 km on the ground) the first
 * term left out is under a double's rounding, and a series costs a
 * fraction of a libm call; callers use libm above it.
 */
#ifndef PLACESD_RANKER_SMALL_ANGLE_H
#define PLACESD_RANKER_SMALL_ANGLE_H

#define SMALL_RAD   0.1

/* |x| < SMALL_RAD: the series to x^9 (the next term is under 1e-21 x) */
static inline double
sin_small(double x)
{
	double x2 = x * x;

	return x * (1 - x2 * (1.0 / 6) * (1 - x2 * (1.0 / 20) *
	    (1 - x2 * (1.0 / 42) * (1 - x2 * (1.0 / 72)))));
}

/* |x| < SMALL_RAD: the series to x^8 (the next term is under 1e-16) */
static inline double
cos_small(double x)
{
	double x2 = x * x;

	return 1 - x2 * 0.5 * (1 - x2 * (1.0 / 12) * (1 - x2 * (1.0 / 30) *
	    (1 - x2 * (1.0 / 56))));
}

/* 0 <= y < sin(SMALL_RAD): the series to y^13 (the next term is under
 * 1e-17 y) */
static inline double
asin_small(double y)
{
	double y2 = y * y;

	return y * (1 + y2 * (1.0 / 6 + y2 * (3.0 / 40 + y2 * (5.0 / 112 +
	    y2 * (35.0 / 1152 + y2 * (63.0 / 2816 + y2 * (231.0 / 13312)))))));
}

#endif
