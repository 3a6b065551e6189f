/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Architecture constants BCC programs take from the kernel's <asm/page.h>,
 * <asm/page_64_types.h>, <asm/thread_info.h> (macros, so not in BTF), written
 * for pybpf from the kernel sources' definitions. The kernel configuration
 * (CONFIG_*, from <bcc_kconfig.h>) selects among them, as in the kernel.
 */
#ifndef __PYBPF_BCC_ARCH_H
#define __PYBPF_BCC_ARCH_H

#if defined(__TARGET_ARCH_x86)
/* arch/x86/include/asm/page_64_types.h: the direct map's base with 4- and 5-level
 * paging; with CONFIG_RANDOMIZE_MEMORY the kernel's page_offset_base is randomized
 * at boot, at or above these (kernel text is above both). */
#define __PAGE_OFFSET_BASE_L4	0xffff888000000000UL
#define __PAGE_OFFSET_BASE_L5	0xff11000000000000UL
#if defined(CONFIG_X86_5LEVEL) && defined(CONFIG_X86_5LEVEL_DEFAULT)
#define __PAGE_OFFSET		__PAGE_OFFSET_BASE_L5
#else
#define __PAGE_OFFSET		__PAGE_OFFSET_BASE_L4
#endif
#define __START_KERNEL_map	0xffffffff80000000UL
#ifndef PAGE_SHIFT
#define PAGE_SHIFT		12
#endif
#ifdef CONFIG_KASAN
#define THREAD_SIZE_ORDER	3
#else
#define THREAD_SIZE_ORDER	2
#endif

#elif defined(__TARGET_ARCH_arm64)
/* arch/arm64/include/asm/memory.h (5.4+: the linear map is the bottom half of the
 * kernel's VA range) and <asm/page-def.h> */
#ifdef CONFIG_ARM64_VA_BITS
#define VA_BITS			CONFIG_ARM64_VA_BITS
#else
#define VA_BITS			48
#endif
#define __PAGE_OFFSET		(-(1UL << VA_BITS))
#if !defined(PAGE_SHIFT) && defined(CONFIG_ARM64_PAGE_SHIFT)
#define PAGE_SHIFT		CONFIG_ARM64_PAGE_SHIFT
#endif
/* <asm/memory.h>: 16K stacks (32K with KASAN), at least a page */
#if defined(CONFIG_KASAN_GENERIC) || defined(CONFIG_KASAN_SW_TAGS)
#define THREAD_SIZE		((1UL << 15) > PAGE_SIZE ? (1UL << 15) : PAGE_SIZE)
#else
#define THREAD_SIZE		((1UL << 14) > PAGE_SIZE ? (1UL << 14) : PAGE_SIZE)
#endif

#elif defined(__TARGET_ARCH_riscv)
#define __PAGE_OFFSET		0xff60000000000000UL
#ifdef CONFIG_THREAD_SIZE_ORDER
#define THREAD_SIZE_ORDER	CONFIG_THREAD_SIZE_ORDER
#endif

#elif defined(__TARGET_ARCH_powerpc)
#define __PAGE_OFFSET		0xc000000000000000UL
#ifdef CONFIG_THREAD_SHIFT
#define THREAD_SIZE		(1UL << CONFIG_THREAD_SHIFT)
#endif
#endif

#if !defined(PAGE_SHIFT) && defined(CONFIG_PAGE_SHIFT)
#define PAGE_SHIFT		CONFIG_PAGE_SHIFT
#endif
#ifndef PAGE_SHIFT
#define PAGE_SHIFT		12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#endif
#ifndef PAGE_MASK
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#endif
#if defined(__PAGE_OFFSET) && !defined(PAGE_OFFSET)
#define PAGE_OFFSET		((unsigned long)__PAGE_OFFSET)
#endif
#if defined(THREAD_SIZE_ORDER) && !defined(THREAD_SIZE)
#define THREAD_SIZE		(PAGE_SIZE << (THREAD_SIZE_ORDER))
#endif

#endif /* __PYBPF_BCC_ARCH_H */
