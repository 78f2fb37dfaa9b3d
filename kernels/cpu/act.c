/*
 * act.c — the element-wise and row-wise pieces of a network: ReLU, bias
 * addition and its gradient, layout transposes and the two losses. Plain
 * loops the compiler vectorizes; the losses accumulate in double.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "vec.h"

/* Branch-free: with random signs a branch would mispredict half the time. */
void gx_k_relu_fwd(const float *x, float *y, size_t n)
{
	const v4f z = v4_set1(0.0f);
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		v4f v = v4_load(x + i);
		v4_store(y + i, v4_sel(v > z, v, z));
	}
	for (; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gx_k_relu_bwd(const float *y, const float *dy, float *dx, size_t n)
{
	const v4f z = v4_set1(0.0f);
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		v4_store(dx + i, v4_sel(v4_load(y + i) > z, v4_load(dy + i), z));
	for (; i < n; i++)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void gx_k_add_bias(float *y, const float *b, int rows, size_t cols, int per_row)
{
	for (int r = 0; r < rows; r++) {
		float *restrict row = y + (size_t)r * cols;
		if (per_row) {
			const v4f v = v4_set1(b[r]);
			size_t j = 0;
			for (; j + 4 <= cols; j += 4)
				v4_store(row + j, v4_load(row + j) + v);
			for (; j < cols; j++)
				row[j] += b[r];
		} else {
			v4_add_row(row, b, cols);
		}
	}
}

void gx_k_add_bias_relu(float *y, const float *b, int rows, size_t cols, int per_row)
{
	const v4f z = v4_set1(0.0f);
	for (int r = 0; r < rows; r++) {
		float *restrict row = y + (size_t)r * cols;
		size_t j = 0;
		if (per_row) {
			const v4f v = v4_set1(b[r]);
			for (; j + 4 <= cols; j += 4) {
				v4f t = v4_load(row + j) + v;
				v4_store(row + j, v4_sel(t > z, t, z));
			}
		} else {
			for (; j + 4 <= cols; j += 4) {
				v4f t = v4_load(row + j) + v4_load(b + j);
				v4_store(row + j, v4_sel(t > z, t, z));
			}
		}
		for (; j < cols; j++) {
			float t = row[j] + b[per_row ? (size_t)r : j];
			row[j] = t > 0.0f ? t : 0.0f;
		}
	}
}

void gx_k_bias_grad(const float *dy, int rows, size_t cols, int per_row, float *db)
{
	if (per_row) {
		for (int r = 0; r < rows; r++) {
			const float *row = dy + (size_t)r * cols;
			v4f s0 = v4_set1(0.0f), s1 = s0;
			size_t j = 0;
			for (; j + 8 <= cols; j += 8) {
				s0 += v4_load(row + j);
				s1 += v4_load(row + j + 4);
			}
			s0 += s1;
			float t = (s0[0] + s0[1]) + (s0[2] + s0[3]);
			for (; j < cols; j++)
				t += row[j];
			db[r] = t;
		}
		return;
	}
	memset(db, 0, sizeof *db * cols);
	for (int r = 0; r < rows; r++)
		v4_add_row(db, dy + (size_t)r * cols, cols);
}

void gx_k_transpose(const float *x, int a, int b, size_t inner, float *y)
{
	if (inner == 1) { /* a plain matrix: in tiles, both sides stay in cache */
		for (int i0 = 0; i0 < a; i0 += 16)
			for (int j0 = 0; j0 < b; j0 += 16) {
				int i1 = i0 + 16 < a ? i0 + 16 : a, j1 = j0 + 16 < b ? j0 + 16 : b;
				for (int j = j0; j < j1; j++)
					for (int i = i0; i < i1; i++)
						y[(size_t)j * a + i] = x[(size_t)i * b + j];
			}
		return;
	}
	for (int i = 0; i < a; i++)
		for (int j = 0; j < b; j++)
			memcpy(y + ((size_t)j * a + i) * inner, x + ((size_t)i * b + j) * inner,
			       sizeof *y * inner);
}

double gx_k_softmax_xent(const float *z, const int32_t *labels, int n, int classes, float scale,
			 float *dz)
{
	double total = 0.0;

	for (int r = 0; r < n; r++) {
		const float *row = z + (size_t)r * classes;
		float m = row[0];
		for (int j = 1; j < classes; j++)
			m = row[j] > m ? row[j] : m;
		double s = 0.0;
		for (int j = 0; j < classes; j++)
			s += exp((double)row[j] - m);
		double lse = m + log(s);
		total += lse - row[labels[r]];
		if (dz) {
			float *d = dz + (size_t)r * classes;
			for (int j = 0; j < classes; j++)
				d[j] = scale * (float)exp((double)row[j] - lse);
			d[labels[r]] -= scale;
		}
	}
	return total;
}

double gx_k_sq_err(const float *y, const float *t, size_t cnt, float scale, float *dy)
{
	double total = 0.0;

	for (size_t i = 0; i < cnt; i++) {
		float e = y[i] - t[i];
		total += (double)e * e;
		if (dy)
			dy[i] = scale * 2.0f * e;
	}
	return total;
}
