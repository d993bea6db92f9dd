/*
 * accel-probe: a 64 KiB BIOS image for the vm backend's accelerator probe (design.md: "a tiny
 * 64-bit guest that runs a short loop and exits through isa-debug-exit"). QEMU runs it with
 * -bios under -accel kvm and a deadline; an accelerator that cannot run a 64-bit guest (the
 * nested paravirtual kvm_pvm of the build machines) misses the deadline or fails, and the backend
 * falls back to TCG. It goes from real mode through protected mode to long mode with identity-
 * mapped 2 MiB pages, counts down a loop, and writes 0x10 to port 0xf4 (isa-debug-exit with
 * iobase=0xf4), so QEMU exits with status (0x10 << 1) | 1 = 33.
 *
 * The loop length is what tells a working accelerator from kvm_pvm: 20 million iterations take
 * about 0.1 s under TCG and a few ms under a real KVM, but about 13 s under kvm_pvm here (0.65
 * us per iteration, measured), far past the probe's 3 s deadline.
 *
 * Layout: the image is mapped just below 4 GiB and its top 64 KiB also at 0xF0000 (as every x86
 * BIOS); the reset vector at offset 0xFFF0 jumps to F000:start. Addresses are offsets from the
 * start of the image, so `as` resolves them without a linker.
 */
    .set BASE, 0xF0000
    .set PML4, 0x1000
    .set PDPT, 0x2000
    .set PD, 0x3000

    .text
    .code16
image:
start:
    cli
    mov $0xF000, %ax
    mov %ax, %ds
    lgdtl gdt_desc - image
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(BASE + protected - image)

    .code32
protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    /* page tables: one 2 MiB identity page is enough for this code's stack-less life */
    mov $PML4, %edi
    xor %eax, %eax
    mov $(3 * 4096 / 4), %ecx
    rep stosl
    movl $(PDPT | 3), PML4
    movl $(PD | 3), PDPT
    movl $0x83, PD
    /* the code runs from the low alias at 0xF0000, inside the first 2 MiB page */
    mov $PML4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $(1 << 5), %eax          /* PAE */
    mov %eax, %cr4
    mov $0xC0000080, %ecx       /* EFER */
    rdmsr
    or $(1 << 8), %eax          /* LME */
    wrmsr
    mov %cr0, %eax
    or $(1 << 31), %eax         /* PG */
    mov %eax, %cr0
    ljmp $0x18, $(BASE + long64 - image)

    .code64
long64:
    mov $20000000, %rcx
1:  dec %rcx
    jnz 1b
    mov $0xf4, %dx
    mov $0x10, %al
    out %al, %dx
2:  hlt
    jmp 2b

    .balign 8
gdt:
    .quad 0                         /* null */
    .quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code, flat */
    .quad 0x00CF92000000FFFF        /* 0x10: data, flat */
    .quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long BASE + gdt - image

    .org 0xFFF0
    .code16
reset:
    ljmp $0xF000, $(start - image)
    .org 0x10000
