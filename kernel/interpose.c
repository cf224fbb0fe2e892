// SPDX-License-Identifier: GPL-2.0
/*
 * The ftrace interposer.  An IPMODIFY ftrace hook on submit_bio_noacct()
 * redirects every caller to bk_submit_bio_noacct(), which offers the bio to
 * the filter.  Calls that come from this module (the pass-through below
 * and bk_interpose_submit()) are recognised by their return address and
 * reach the real function, so the filter never recurses into itself.  For
 * that, the calls must not be tail calls: Kbuild builds this file with
 * -fno-optimize-sibling-calls, and the rest of the module submits only
 * through bk_interpose_submit().
 *
 * A second, notify-only hook on del_gendisk() reports disks going away.
 *
 * Unload safety: after the hooks are unregistered, a task may still be
 * inside bk_submit_bio_noacct() (even asleep in the block layer), or be
 * preempted between the trampoline and its first instruction.  The second
 * case ends with an RCU-tasks grace period, the first is counted.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include "compat.h"
#include "interpose.h"

static bk_bio_filter_fn bk_filter;
static bk_disk_gone_fn bk_gone;
static DEFINE_PER_CPU(long, bk_in_hook);

static void notrace bk_submit_bio_noacct(struct bio *bio)
{
	this_cpu_inc(bk_in_hook);
	if (!bk_filter(bio))
		submit_bio_noacct(bio);
	this_cpu_dec(bk_in_hook);
}

void bk_interpose_submit(struct bio *bio)
{
	submit_bio_noacct(bio);
}

static void notrace bk_submit_thunk(unsigned long ip, unsigned long parent_ip,
				    struct ftrace_ops *ops,
				    struct ftrace_regs *fregs)
{
	if (!within_module(parent_ip, THIS_MODULE))
		bk_ftrace_set_ip(fregs, (unsigned long)bk_submit_bio_noacct);
}

static void notrace bk_gone_thunk(unsigned long ip, unsigned long parent_ip,
				  struct ftrace_ops *ops,
				  struct ftrace_regs *fregs)
{
	struct gendisk *disk = (struct gendisk *)bk_ftrace_arg0(fregs);

	if (disk)
		bk_gone(disk);
}

static struct ftrace_ops bk_submit_ops = {
	.func = bk_submit_thunk,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY |
		 FTRACE_OPS_FL_RECURSION,
};

static struct ftrace_ops bk_gone_ops = {
	.func = bk_gone_thunk,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_RECURSION,
};

static int bk_hook(struct ftrace_ops *ops, unsigned long addr, const char *name)
{
	int ret = ftrace_set_filter_ip(ops, addr, 0, 0);

	if (!ret)
		ret = register_ftrace_function(ops);
	if (ret) {
		ftrace_set_filter_ip(ops, addr, 1, 0);
		pr_err("cannot hook %s (another interposer or livepatch?): %d\n",
		       name, ret);
	}
	return ret;
}

static void bk_unhook(struct ftrace_ops *ops, unsigned long addr)
{
	unregister_ftrace_function(ops);
	ftrace_set_filter_ip(ops, addr, 1, 0);
}

static long bk_tasks_in_hook(void)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(bk_in_hook, cpu);
	return sum;
}

int bk_interpose_start(bk_bio_filter_fn filter, bk_disk_gone_fn gone)
{
	int ret;

	bk_filter = filter;
	bk_gone = gone;
	ret = bk_hook(&bk_gone_ops, (unsigned long)del_gendisk,
		      BK_DISK_GONE_SYMBOL);
	if (ret)
		return ret;
	ret = bk_hook(&bk_submit_ops, (unsigned long)submit_bio_noacct,
		      "submit_bio_noacct");
	if (ret)
		bk_unhook(&bk_gone_ops, (unsigned long)del_gendisk);
	return ret;
}

void bk_interpose_stop(void)
{
	bk_unhook(&bk_submit_ops, (unsigned long)submit_bio_noacct);
	bk_unhook(&bk_gone_ops, (unsigned long)del_gendisk);
	synchronize_rcu_tasks();
	while (bk_tasks_in_hook())
		msleep(20);
}
