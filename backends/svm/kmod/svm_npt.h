/* backends/svm/kmod/svm_npt.h — AMD nested page tables (4 levels). */
#ifndef LVS_SVM_NPT_H
#define LVS_SVM_NPT_H

#include <linux/types.h>

struct lvs_npt;

struct lvs_npt *lvs_npt_alloc(void);
void lvs_npt_free(struct lvs_npt *npt);
u64 lvs_npt_root_pa(struct lvs_npt *npt);
/* Maps the 4 KiB guest page at `gpa` to host page `hpa`. */
int lvs_npt_map(struct lvs_npt *npt, u64 gpa, u64 hpa, bool writable);
void lvs_npt_unmap(struct lvs_npt *npt, u64 gpa);

#endif
